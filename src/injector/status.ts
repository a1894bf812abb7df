import { z } from 'zod';
import { MESHGATE_ANNOTATIONS } from './annotations.js';
import type { Pod } from './pod.js';

/**
 * `meshgate.io/status` (SPEC §5): what meshgate added to a pod, so injection is idempotent and
 * `meshgate uninject` removes exactly that.
 */
export interface InjectionStatus {
  version: string;
  containers: string[];
  initContainers: string[];
  volumes: string[];
}

const statusSchema = z.object({
  version: z.string(),
  containers: z.array(z.string()),
  initContainers: z.array(z.string()),
  volumes: z.array(z.string()),
});

export function renderStatus(s: InjectionStatus): string {
  // Fixed key order, so the annotation is stable across runs (golden tests, idempotence).
  return JSON.stringify({ version: s.version, containers: s.containers, initContainers: s.initContainers, volumes: s.volumes });
}

export function hasStatus(pod: Pod): boolean {
  return pod.metadata?.annotations?.[MESHGATE_ANNOTATIONS.status] !== undefined;
}

/** The pod's status annotation: absent → undefined; malformed → an error message. */
export function readStatus(pod: Pod): { ok: true; value: InjectionStatus | undefined } | { ok: false; message: string } {
  const raw = pod.metadata?.annotations?.[MESHGATE_ANNOTATIONS.status];
  if (raw === undefined) return { ok: true, value: undefined };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, message: `annotation ${MESHGATE_ANNOTATIONS.status} is not JSON` };
  }
  const r = statusSchema.safeParse(json);
  if (!r.success) {
    return { ok: false, message: `annotation ${MESHGATE_ANNOTATIONS.status} must be {version, containers, initContainers, volumes}` };
  }
  return { ok: true, value: r.data };
}
