import type { MeshState } from '../state/mesh-state.js';
import type { EgressRef, ObjectRef } from '../state/types.js';
import { normalizeProtocol, SERVER_FIRST, type EgressProtocol } from '../vocabulary/egress-protocol.js';
import { fieldError, type FieldError } from '../vocabulary/field-errors.js';

/**
 * Server-first conflicts (SPEC §3): a port number used as `tcp-server-first` skips protocol
 * detection on the sidecar's listener, so the same number cannot also carry a protocol that needs
 * detection, for any ServiceAccount that shares the listener.
 */
export interface PortEntry {
  /** Index in spec.ports, for the error's field. */
  index: number;
  number: number;
  /** The protocol it means, in lower case (what the rules compare). */
  protocol: EgressProtocol;
  /** The protocol as written (what the error quotes as the invalid value). */
  written: string;
}

// Any case: the store records protocols in lower case, but a state read from elsewhere may not.
const isServerFirst = (protocol: string) => normalizeProtocol(protocol) === SERVER_FIRST;

/** Conflicts inside one policy: reported on the later of two conflicting entries. */
export function serverFirstWithinPolicy(ports: readonly PortEntry[]): FieldError[] {
  const errors: FieldError[] = [];
  const firstByKind = new Map<string, PortEntry>();
  for (const p of ports) {
    const mine = `${p.number}/${isServerFirst(p.protocol)}`;
    const other = firstByKind.get(`${p.number}/${!isServerFirst(p.protocol)}`);
    if (other) {
      errors.push(
        fieldError.invalid(
          `spec.ports[${p.index}].protocol`,
          p.written,
          `port ${p.number} is also "${other.protocol}" in spec.ports[${other.index}]; a "${SERVER_FIRST}" port cannot share its number with another protocol`,
        ),
      );
    }
    if (!firstByKind.has(mine)) firstByKind.set(mine, p);
  }
  return errors;
}

const refKey = (r: EgressRef) => `${r.group}/${r.namespace}/${r.name}`;

/**
 * Conflicts with other Egress policies sharing a source ServiceAccount, found through the state's
 * server-first index (never a scan). The policy's own stored version (same group, namespace and
 * name: an UPDATE, or the same object given twice offline) does not count.
 */
export function serverFirstAcrossPolicies(
  self: EgressRef,
  sources: readonly ObjectRef[],
  ports: readonly PortEntry[],
  state: MeshState,
): FieldError[] {
  const errors: FieldError[] = [];
  const selfKey = refKey(self);
  const reported = new Set<string>();
  for (const p of ports) {
    const mineIsServerFirst = isServerFirst(p.protocol);
    for (const source of sources) {
      for (const use of state.portUses(source, p.number)) {
        if (isServerFirst(use.protocol) === mineIsServerFirst) continue;
        const otherKey = refKey(use.policy);
        if (otherKey === selfKey) continue;
        const once = `${p.index}|${otherKey}`;
        if (reported.has(once)) continue;
        reported.add(once);
        errors.push(
          fieldError.invalid(
            `spec.ports[${p.index}].protocol`,
            p.written,
            `conflicts with Egress ${use.policy.namespace}/${use.policy.name} (${use.policy.group}), which uses port ${p.number} as "${normalizeProtocol(use.protocol) ?? use.protocol}" ` +
              `for the same ServiceAccount ${source.namespace}/${source.name}; a "${SERVER_FIRST}" port cannot share its number with another protocol`,
          ),
        );
      }
    }
  }
  return errors;
}
