import { MESHGATE_ANNOTATIONS } from './annotations.js';
import type { Pod } from './pod.js';
import { readStatus } from './status.js';

export type UninjectResult =
  | { kind: 'uninjected'; pod: Pod }
  | { kind: 'not-injected'; pod: Pod }
  | { kind: 'error'; message: string };

/**
 * Undoes injection: removes exactly the containers, init containers and volumes the
 * `meshgate.io/status` annotation lists, and the annotation. Lists, the annotation map and the
 * metadata that injection created (empty once emptied) are removed too, so uninject(inject(p))
 * equals p (an empty map or list the pod had before injection goes as well).
 */
export function uninject(pod: Pod): UninjectResult {
  const status = readStatus(pod);
  if (!status.ok) return { kind: 'error', message: status.message };
  if (status.value === undefined) return { kind: 'not-injected', pod };
  const s = status.value;
  // Copy what changes, share the rest (the input is never modified).
  const out: Pod = { ...pod, spec: { ...pod.spec } };
  out.spec.containers = out.spec.containers.filter((c) => !s.containers.includes(c.name));
  if (out.spec.initContainers) {
    out.spec.initContainers = out.spec.initContainers.filter((c) => !s.initContainers.includes(c.name));
    if (out.spec.initContainers.length === 0) delete out.spec.initContainers;
  }
  if (out.spec.volumes && s.volumes.length > 0) {
    out.spec.volumes = out.spec.volumes.filter((v) => !s.volumes.includes(v.name));
    if (out.spec.volumes.length === 0) delete out.spec.volumes;
  }
  if (out.metadata?.annotations) {
    out.metadata = { ...out.metadata, annotations: { ...out.metadata.annotations } };
  }
  const annotations = out.metadata?.annotations;
  if (out.metadata && annotations) {
    delete annotations[MESHGATE_ANNOTATIONS.status];
    if (Object.keys(annotations).length === 0) delete out.metadata.annotations;
    // Pod templates often have no metadata at all; injection created it for the annotation.
    if (Object.keys(out.metadata).length === 0) delete out.metadata;
  }
  return { kind: 'uninjected', pod: out };
}
