import { WEBHOOK_PORT, XDS_PORT } from '../profile.js';
import { commonLabels, selectorLabels, type InstallNames } from './names.js';
import type { InstallOptions, KubeObject } from './types.js';

/** Non-root UID/GID of the server (distroless "nonroot"). */
export const SERVER_UID = 65532;

/**
 * The server's arguments. Self-managed certificates: the Secret and the two webhook configurations
 * it keeps the caBundle of. cert-manager: the mounted Secret's files, reloaded when they change.
 */
export function serveArgs(names: InstallNames, certManager: boolean): string[] {
  const args = ['serve', '--port', String(WEBHOOK_PORT)];
  if (certManager) {
    args.push('--tls-cert', `${names.tlsMountPath}/tls.crt`, '--tls-key', `${names.tlsMountPath}/tls.key`);
  } else {
    args.push(
      '--cert-secret',
      names.tlsSecret,
      '--service-name',
      names.service,
      '--validating-webhook-config',
      names.validatingWebhookConfiguration,
      '--mutating-webhook-config',
      names.mutatingWebhookConfiguration,
    );
  }
  return args;
}

function probe(path: string, periodSeconds: number, failureThreshold: number) {
  return {
    httpGet: { path, port: WEBHOOK_PORT, scheme: 'HTTPS' },
    periodSeconds,
    timeoutSeconds: 3,
    failureThreshold,
  };
}

/**
 * Two replicas spread across nodes, never both down in a rollout (maxUnavailable 0) or a drain
 * (the PDB): with failurePolicy Fail, no server means no pod creation in enrolled namespaces.
 * The pod meets the "restricted" Pod Security Standard.
 */
export function deployment(profile: { name: string }, names: InstallNames, opts: InstallOptions): KubeObject {
  const selector = selectorLabels(opts.meshName);
  const volumes: Record<string, unknown>[] = [{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } }];
  const volumeMounts: Record<string, unknown>[] = [{ name: 'tmp', mountPath: '/tmp' }];
  if (opts.certManager) {
    volumes.push({ name: 'tls', secret: { secretName: names.tlsSecret, defaultMode: 0o440 } });
    volumeMounts.push({ name: 'tls', mountPath: names.tlsMountPath, readOnly: true });
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: names.deployment, namespace: names.namespace, labels: commonLabels(opts.meshName) },
    spec: {
      replicas: opts.replicas ?? 2,
      selector: { matchLabels: selector },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: commonLabels(opts.meshName) },
        spec: {
          serviceAccountName: names.serviceAccount,
          terminationGracePeriodSeconds: 30,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: SERVER_UID,
            runAsGroup: SERVER_UID,
            fsGroup: SERVER_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                {
                  weight: 100,
                  podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector } },
                },
              ],
            },
          },
          containers: [
            {
              name: 'meshgate',
              image: opts.image,
              imagePullPolicy: 'IfNotPresent',
              args: serveArgs(names, opts.certManager),
              env: [
                { name: 'MESHGATE_PROFILE', value: profile.name },
                { name: 'MESHGATE_MESH_NAME', value: opts.meshName },
                { name: 'MESHGATE_MESH_NAMESPACE', value: names.namespace },
                ...(opts.initImage === undefined ? [] : [{ name: 'MESHGATE_INIT_IMAGE', value: opts.initImage }]),
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              ],
              ports: [
                { name: 'webhook', containerPort: WEBHOOK_PORT, protocol: 'TCP' },
                { name: 'xds', containerPort: XDS_PORT, protocol: 'TCP' },
              ],
              readinessProbe: probe('/readyz', 5, 2),
              livenessProbe: probe('/healthz', 10, 3),
              resources: {
                requests: { cpu: '100m', memory: '128Mi' },
                limits: { cpu: '1', memory: '512Mi' },
              },
              securityContext: {
                runAsNonRoot: true,
                runAsUser: SERVER_UID,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
              volumeMounts,
            },
          ],
          volumes,
        },
      },
    },
  };
}

export function service(names: InstallNames, meshName: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: names.service, namespace: names.namespace, labels: commonLabels(meshName) },
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(meshName),
      ports: [
        { name: 'https-webhook', port: 443, targetPort: WEBHOOK_PORT, protocol: 'TCP' },
        // Injected sidecars' ADS connections (gRPC over TLS, SPEC §10); 15128 on both sides, as the bootstrap names it.
        { name: 'xds', port: XDS_PORT, targetPort: XDS_PORT, protocol: 'TCP', appProtocol: 'grpc' },
      ],
    },
  };
}

export function podDisruptionBudget(names: InstallNames, meshName: string): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: names.podDisruptionBudget, namespace: names.namespace, labels: commonLabels(meshName) },
    spec: { minAvailable: 1, selector: { matchLabels: selectorLabels(meshName) } },
  };
}
