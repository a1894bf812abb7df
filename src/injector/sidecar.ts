import { METRICS_PORT, PROXY_UID } from '../profile.js';
import type { MeshConfigSpec } from '../state/types.js';
import { READY_PATH } from './bootstrap.js';
import type { Container } from './pod.js';
import { tokenVolumeMount } from './token-volume.js';

export const SIDECAR_NAME = 'envoy';

/** Envoy's `--log-level` values (OSM's MeshConfig `sidecar.logLevel` uses the same names). */
export const ENVOY_LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'off'] as const;
export const DEFAULT_LOG_LEVEL = 'error';

export interface SidecarOptions {
  image: string;
  /** The rendered bootstrap, as the JSON text Envoy gets with --config-yaml. */
  bootstrapJson: string;
  logLevel: string;
  resources: NonNullable<MeshConfigSpec['sidecar']>['resources'] | undefined;
  /** Native sidecar: an init container with restartPolicy Always, and a startup probe so the
   * kubelet starts the next container only once Envoy is ready. */
  native: boolean;
}

/** Seconds Envoy lets connections on a listener that ADS changed or removed finish before it closes
 * them (SPEC §10): short, so a revoked policy soon applies to open connections too. */
export const DRAIN_TIME_SECONDS = 5;

/**
 * The Envoy sidecar (SPEC §5). The bootstrap travels inline with `--config-yaml` (YAML is a
 * superset of JSON), so admission creates no Secret and has no side effects. Envoy writes
 * nothing to disk with hot restart disabled, so the root filesystem stays read-only. The only
 * volume is the meshgate token (read-only), which no other container gets.
 */
export function buildSidecar(o: SidecarOptions): Container {
  const probe = { httpGet: { path: READY_PATH, port: METRICS_PORT }, periodSeconds: 5, timeoutSeconds: 1, failureThreshold: 3 };
  const c: Container = {
    name: SIDECAR_NAME,
    image: o.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['envoy'],
    args: ['--config-yaml', o.bootstrapJson, '--log-level', o.logLevel, '--disable-hot-restart', '--drain-time-s', String(DRAIN_TIME_SECONDS)],
    ports: [{ name: 'proxy-metrics', containerPort: METRICS_PORT, protocol: 'TCP' }],
    readinessProbe: probe,
    volumeMounts: [tokenVolumeMount()],
  };
  if (o.native) {
    c.restartPolicy = 'Always';
    c.startupProbe = { httpGet: { path: READY_PATH, port: METRICS_PORT }, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 60 };
  }
  const res = o.resources;
  if (res && ((res.requests && Object.keys(res.requests).length > 0) || (res.limits && Object.keys(res.limits).length > 0))) {
    c.resources = JSON.parse(JSON.stringify(res)) as unknown;
  }
  c.securityContext = {
    runAsUser: PROXY_UID,
    runAsGroup: PROXY_UID,
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  };
  return c;
}
