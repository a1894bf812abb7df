import { expect } from 'chai';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { MutatingWebhookConfiguration, ValidatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { installNames } from '../../src/manifests/names.js';
import { renderCrds, renderInstall } from '../../src/manifests/render-install.js';
import type { InstallOptions, KubeObject } from '../../src/manifests/types.js';
import { toMultiDocumentYaml } from '../../src/manifests/yaml-output.js';
import { mayRewriteGoldens } from '../support/golden.js';
import { VARIANTS } from './variants.js';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/', import.meta.url));

type Validatable = { validate(): void };
const MODELS: Record<string, new (data: never) => Validatable> = {
  CustomResourceDefinition,
  Namespace,
  ServiceAccount,
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
  Service,
  Deployment,
  PodDisruptionBudget,
  ValidatingWebhookConfiguration,
  MutatingWebhookConfiguration,
};

const byKind = (objects: KubeObject[], kind: string) => objects.filter((o) => o.kind === kind);
const one = (objects: KubeObject[], kind: string): any => {
  const found = byKind(objects, kind);
  expect(found, kind).to.have.length(1);
  return found[0];
};

describe('renderInstall', () => {
  for (const [variant, opts] of Object.entries(VARIANTS)) {
    describe(variant, () => {
      const objects = renderInstall(opts);
      const crdObjects = renderCrds(opts);

      it('matches its golden files, the install and its CRDs (UPDATE_GOLDEN=1 to regenerate)', () => {
        for (const [file, rendered] of [
          [`${GOLDEN_DIR}${variant}.yaml`, toMultiDocumentYaml(objects)],
          [`${GOLDEN_DIR}${variant}.crds.yaml`, toMultiDocumentYaml(crdObjects)],
        ] as const) {
          if (mayRewriteGoldens('UPDATE_GOLDEN')) {
            mkdirSync(GOLDEN_DIR, { recursive: true });
            writeFileSync(file, rendered);
          }
          expect(rendered, `${file} differs: rerun with UPDATE_GOLDEN=1 and review the diff`).to.equal(readFileSync(file, 'utf8'));
        }
      });

      it('the CRDs are a step of their own: the install has no CRD, the CRD install nothing else', () => {
        expect(objects.map((o) => o.kind)).to.not.include('CustomResourceDefinition');
        expect(new Set(crdObjects.map((o) => o.kind))).to.deep.equal(new Set(['CustomResourceDefinition']));
        // Every custom resource of the install has its CRD in the CRD install.
        const served = new Set(crdObjects.map((c: any) => `${c.spec.group}/${c.spec.versions[0].name}/${c.spec.names.kind}`));
        for (const o of objects.filter((x) => x.kind === 'MeshConfig')) expect(served, o.kind).to.include(`${o.apiVersion}/${o.kind}`);
      });

      it('every object is valid under the Kubernetes OpenAPI models', () => {
        for (const o of [...crdObjects, ...objects]) {
          const Model = MODELS[o.kind];
          if (!Model) {
            expect(['MeshConfig', 'Issuer', 'Certificate'], `no model for ${o.kind}`).to.include(o.kind);
            continue;
          }
          expect(() => new Model(o as never).validate(), `${o.kind} ${o.metadata.name}`).to.not.throw();
        }
      });

      it('lists objects in dependency order, webhook configurations last', () => {
        const kinds = objects.map((o) => o.kind);
        const index = (k: string) => kinds.indexOf(k);
        expect(index('Namespace')).to.be.lessThan(index('MeshConfig'));
        expect(index('MeshConfig')).to.be.lessThan(index('ValidatingWebhookConfiguration'));
        expect(index('ServiceAccount')).to.be.lessThan(index('Deployment'));
        expect(kinds.slice(-2)).to.deep.equal(['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']);
      });

      it('webhook configurations pass kube-apiserver\'s checks and SPEC §6', () => {
        checkWebhookConfigurations(objects, opts);
      });

      it('RBAC is least privilege', () => {
        checkRbac(objects, opts);
      });

      it('the Deployment is highly available and meets the "restricted" Pod Security Standard', () => {
        checkDeployment(objects, opts);
      });

      it('the default MeshConfig closes egress unless asked, and enables Egress policies', () => {
        const mc = one(objects, 'MeshConfig');
        expect(mc.apiVersion).to.equal(`${opts.profile.meshConfig.group}/${opts.profile.meshConfig.version}`);
        expect(mc.metadata).to.include({ name: opts.profile.meshConfig.name, namespace: opts.namespace });
        expect(mc.spec.traffic.enableEgress).to.equal(opts.enableEgress);
        expect(mc.spec.featureFlags.enableEgressPolicy).to.equal(true);
      });

      it('CRDs: Egress per policy group, HTTPRouteGroup v1alpha4, the profile\'s MeshConfig, with descriptions and printer columns', () => {
        const crds = byKind(crdObjects, 'CustomResourceDefinition') as any[];
        const names = crds.map((c) => c.metadata.name);
        const own = `policy.${opts.profile.domain}`;
        expect(names).to.include(`egresses.${own}`);
        expect(names).to.include(`upstreamtrafficsettings.${own}`);
        expect(names).to.include('httproutegroups.specs.smi-spec.io');
        expect(names).to.include(`meshconfigs.${opts.profile.meshConfig.group}`);
        expect(names.filter((n: string) => n.startsWith('egresses.'))).to.have.length(opts.bothEgressGroups ? 2 : 1);
        for (const crd of crds) {
          const v = crd.spec.versions[0];
          expect(v.additionalPrinterColumns.length, crd.metadata.name).to.be.greaterThan(0);
          assertDescribed(v.schema.openAPIV3Schema.properties.spec, `${crd.metadata.name}.spec`);
        }
      });
    });
  }

  it('cert-manager mode: Issuers, Certificate for the Service names, CA injection, mounted Secret, no Secret RBAC', () => {
    const opts = VARIANTS['osm-cert-manager-egress']!;
    const objects = renderInstall(opts);
    const names = installNames(opts);
    const issuers = byKind(objects, 'Issuer') as any[];
    expect(issuers.map((i) => Object.keys(i.spec)[0])).to.deep.equal(['selfSigned', 'ca']);
    const certs = byKind(objects, 'Certificate') as any[];
    expect(certs[0].spec.isCA).to.equal(true);
    const serving = certs.find((c) => c.metadata.name === names.servingCertificate);
    expect(serving.spec.dnsNames).to.include(`${names.service}.${names.namespace}.svc`);
    expect(serving.spec.secretName).to.equal(names.tlsSecret);
    expect(serving.spec.issuerRef.name).to.equal(names.caIssuer);
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      expect(one(objects, kind).metadata.annotations['cert-manager.io/inject-ca-from']).to.equal(`${names.namespace}/${names.servingCertificate}`);
    }
    const pod = one(objects, 'Deployment').spec.template.spec;
    expect(pod.volumes).to.deep.include({ name: 'tls', secret: { secretName: names.tlsSecret, defaultMode: 0o440 } });
    expect(pod.containers[0].args).to.include.members(['--tls-cert', `${names.tlsMountPath}/tls.crt`]);
    expect(byKind(objects, 'Role')).to.have.length(0);
    const cr = one(objects, 'ClusterRole');
    expect(JSON.stringify(cr.rules)).to.not.include('webhookconfigurations');
    // cert-manager's objects come before the Deployment that mounts their Secret.
    expect(objects.findIndex((o) => o.kind === 'Certificate')).to.be.lessThan(objects.findIndex((o) => o.kind === 'Deployment'));
  });
});

function assertDescribed(node: any, path: string): void {
  expect(node.description, `${path} has a description (for kubectl explain)`).to.be.a('string').and.not.equal('');
  for (const [k, child] of Object.entries<any>(node.properties ?? {})) assertDescribed(child, `${path}.${k}`);
  if (node.items?.properties) for (const [k, child] of Object.entries<any>(node.items.properties)) assertDescribed(child, `${path}[].${k}`);
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkWebhookConfigurations(objects: KubeObject[], opts: InstallOptions): void {
  const names = installNames(opts);
  const vwc = one(objects, 'ValidatingWebhookConfiguration');
  const mwc = one(objects, 'MutatingWebhookConfiguration');
  const all = [...vwc.webhooks, ...mwc.webhooks];
  const protectedNs = [opts.namespace, 'kube-system', 'kube-public'];
  // kube-apiserver ValidateWebhookConfiguration: names are fully qualified (≥ 3 labels) and unique within a configuration.
  for (const config of [vwc, mwc]) {
    expect(config.metadata.name).to.match(DNS_SUBDOMAIN);
    const webhookNames = config.webhooks.map((w: any) => w.name);
    expect(new Set(webhookNames).size).to.equal(webhookNames.length);
  }
  expect(new Set(all.map((w: any) => w.name)).size, 'unique across configurations too').to.equal(all.length);
  for (const w of all) {
    expect(w.name).to.match(DNS_SUBDOMAIN);
    expect(w.name.split('.').length, `${w.name} has at least 3 DNS labels`).to.be.at.least(3);
    expect(w.sideEffects).to.equal('None');
    expect(w.admissionReviewVersions).to.deep.equal(['v1']);
    expect(w.timeoutSeconds).to.be.within(1, 10);
    expect(w.failurePolicy).to.equal('Fail');
    expect(w.matchPolicy).to.equal('Equivalent');
    expect(w.clientConfig.url).to.equal(undefined);
    expect(w.clientConfig.service).to.include({ name: names.service, namespace: names.namespace, port: 443 });
    expect(w.clientConfig.service.path).to.match(/^\/(validate|mutate)$/);
    expect(w.clientConfig.caBundle, 'published by the server or cainjector, never by install').to.equal(undefined);
    for (const rule of w.rules) {
      for (const op of rule.operations) expect(['CREATE', 'UPDATE', 'DELETE', 'CONNECT', '*']).to.include(op);
      // Subresources only where meant: the pod guard's pods/ephemeralcontainers (kubectl debug).
      expect(rule.resources.every((r: string) => !r.includes('/') || r === 'pods/ephemeralcontainers')).to.equal(true);
    }
  }
  const rulesFor = (w: any, resource: string) => w.rules.filter((r: any) => r.resources.includes(resource));
  const policy = vwc.webhooks.find((w: any) => w.name === names.policyWebhook);
  expect(policy.namespaceSelector, 'policies are checked in every namespace').to.equal(undefined);
  expect(rulesFor(policy, 'egresses')[0]).to.deep.include({
    apiGroups: ['policy.openservicemesh.io', 'policy.flomesh.io'],
    operations: ['CREATE', 'UPDATE'],
  });
  expect(rulesFor(policy, 'httproutegroups')[0]).to.deep.include({ apiGroups: ['specs.smi-spec.io'], apiVersions: ['v1alpha4'], operations: ['CREATE', 'UPDATE', 'DELETE'] });
  expect(rulesFor(policy, 'meshconfigs')[0]).to.deep.include({ apiGroups: [opts.profile.meshConfig.group], operations: ['CREATE', 'UPDATE'] });
  expect(policy.clientConfig.service.path).to.equal('/validate');

  const podWebhooks = [vwc.webhooks.find((w: any) => w.name === names.podGuardWebhook), mwc.webhooks[0]];
  expect(podWebhooks[1].clientConfig.service.path).to.equal('/mutate');
  expect(podWebhooks[0].clientConfig.service.path).to.equal('/validate');
  expect(podWebhooks[1].rules).to.deep.equal([{ apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'], scope: 'Namespaced' }]);
  // The guard also sees updates (an injected container's image) and kubectl debug's ephemeral containers.
  expect(podWebhooks[0].rules).to.deep.equal([
    { apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
    { apiGroups: [''], apiVersions: ['v1'], resources: ['pods/ephemeralcontainers'], operations: ['UPDATE'], scope: 'Namespaced' },
  ]);
  for (const w of podWebhooks) {
    const exprs = w.namespaceSelector.matchExpressions;
    expect(exprs).to.deep.include({ key: `${opts.profile.domain}/monitored-by`, operator: 'In', values: [opts.meshName] });
    expect(exprs).to.deep.include({ key: `${opts.profile.domain}/ignore`, operator: 'DoesNotExist' });
    expect(exprs).to.deep.include({ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: protectedNs });
  }
}

function checkRbac(objects: KubeObject[], opts: InstallOptions): void {
  const names = installNames(opts);
  const cr = one(objects, 'ClusterRole');
  for (const rule of cr.rules) {
    expect(rule.resources, 'nothing cluster-wide on Secrets').to.not.include('secrets');
    const writes = rule.verbs.filter((v: string) => !['get', 'list', 'watch'].includes(v));
    if (rule.apiGroups.includes('authentication.k8s.io')) {
      // TokenReview is a review, not a stored object: create is the only verb it has.
      expect(rule).to.deep.equal({ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] });
    } else if (writes.length > 0) {
      expect(writes).to.deep.equal(['patch']);
      expect(rule.resources[0]).to.match(/webhookconfigurations$/);
      expect(rule.resourceNames).to.have.length(1);
      expect([names.validatingWebhookConfiguration, names.mutatingWebhookConfiguration]).to.include(rule.resourceNames[0]);
    }
    expect(rule.verbs).to.not.include('*');
    expect(rule.resources).to.not.include('*');
  }
  const readable = cr.rules.flatMap((r: any) => (r.verbs.includes('watch') ? r.resources : []));
  expect(readable).to.include.members(['namespaces', 'meshconfigs', 'httproutegroups', 'egresses', 'upstreamtrafficsettings']);
  expect(cr.rules.filter((r: any) => r.resources.includes('tokenreviews')), 'the ADS server reviews sidecar tokens').to.have.length(1);
  expect(one(objects, 'ClusterRoleBinding').subjects).to.deep.equal([{ kind: 'ServiceAccount', name: names.serviceAccount, namespace: opts.namespace }]);
  if (!opts.certManager) {
    const role = one(objects, 'Role');
    expect(role.metadata.namespace).to.equal(opts.namespace);
    expect(role.rules).to.deep.equal([
      { apiGroups: [''], resources: ['secrets'], resourceNames: [names.tlsSecret], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ]);
    expect(one(objects, 'RoleBinding').roleRef.name).to.equal(role.metadata.name);
  }
}

function checkDeployment(objects: KubeObject[], opts: InstallOptions): void {
  const names = installNames(opts);
  const d = one(objects, 'Deployment');
  expect(d.spec.replicas).to.equal(opts.replicas ?? 2);
  expect(d.spec.strategy.rollingUpdate.maxUnavailable).to.equal(0);
  const pdb = one(objects, 'PodDisruptionBudget');
  expect(pdb.spec.minAvailable).to.equal(1);
  expect(pdb.spec.selector).to.deep.equal(d.spec.selector);
  const svc = one(objects, 'Service');
  expect(svc.spec.ports).to.deep.equal([
    { name: 'https-webhook', port: 443, targetPort: 9443, protocol: 'TCP' },
    { name: 'xds', port: 15128, targetPort: 15128, protocol: 'TCP', appProtocol: 'grpc' },
  ]);
  expect(d.spec.template.spec.containers[0].ports).to.deep.include({ name: 'xds', containerPort: 15128, protocol: 'TCP' });
  expect(svc.spec.selector).to.deep.equal(d.spec.selector.matchLabels);
  const pod = d.spec.template.spec;
  expect(d.spec.template.metadata.labels).to.include(d.spec.selector.matchLabels);
  expect(pod.serviceAccountName).to.equal(names.serviceAccount);
  const anti = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
  expect(anti.topologyKey).to.equal('kubernetes.io/hostname');
  const [c] = pod.containers;
  expect(c.args.slice(0, 3)).to.deep.equal(['serve', '--port', '9443']);
  for (const [probe, path] of [
    [c.readinessProbe, '/readyz'],
    [c.livenessProbe, '/healthz'],
  ]) {
    expect(probe.httpGet).to.deep.equal({ path, port: 9443, scheme: 'HTTPS' });
  }
  expect(c.resources.requests).to.have.keys('cpu', 'memory');
  expect(c.resources.limits).to.have.keys('cpu', 'memory');
  const env = Object.fromEntries(c.env.filter((e: any) => e.value).map((e: any) => [e.name, e.value]));
  expect(env).to.deep.equal({ MESHGATE_PROFILE: opts.profile.name, MESHGATE_MESH_NAME: opts.meshName, MESHGATE_MESH_NAMESPACE: opts.namespace });

  // Pod Security Standard "restricted" (v1.30 rules), for every container.
  expect(pod.hostNetwork ?? false).to.equal(false);
  expect(pod.hostPID ?? false).to.equal(false);
  expect(pod.hostIPC ?? false).to.equal(false);
  for (const v of pod.volumes) expect(Object.keys(v).filter((k) => k !== 'name'), 'restricted volume types').to.satisfy((ks: string[]) => ks.every((k) => ['emptyDir', 'secret', 'configMap', 'projected', 'downwardAPI', 'persistentVolumeClaim', 'ephemeral', 'csi'].includes(k)));
  expect(pod.securityContext.seccompProfile.type).to.equal('RuntimeDefault');
  for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
    const sc = { ...pod.securityContext, ...container.securityContext };
    expect(sc.runAsNonRoot).to.equal(true);
    expect(sc.runAsUser).to.be.a('number').and.not.equal(0);
    expect(container.securityContext.allowPrivilegeEscalation).to.equal(false);
    expect(container.securityContext.privileged ?? false).to.equal(false);
    expect(container.securityContext.capabilities.drop).to.deep.equal(['ALL']);
    expect(container.securityContext.capabilities.add ?? []).to.deep.equal([]);
    expect(container.securityContext.readOnlyRootFilesystem).to.equal(true);
    expect(['RuntimeDefault', 'Localhost']).to.include(sc.seccompProfile.type);
    for (const p of container.ports ?? []) expect(p.hostPort).to.equal(undefined);
  }
}
