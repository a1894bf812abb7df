/**
 * Egress port protocols, read the way OSM reads them: case-insensitively (`strings.ToLower` in its
 * egress compiler), so `HTTP` or `TCP` in an existing policy means `http` or `tcp`. One rule shared
 * by the validator (policy/), which warns about the spelling, and the egress compiler, which
 * programs the sidecar with the lower-case protocol.
 */
export const EGRESS_PROTOCOLS = ['http', 'https', 'tcp', 'tcp-server-first'] as const;
export type EgressProtocol = (typeof EGRESS_PROTOCOLS)[number];

/** A server-first protocol (MySQL, PostgreSQL): no protocol detection on that port number. */
export const SERVER_FIRST: EgressProtocol = 'tcp-server-first';

const KNOWN: ReadonlySet<string> = new Set(EGRESS_PROTOCOLS);

/**
 * The protocol a `ports[].protocol` value means, in lower case, or undefined when it is not a
 * string or not one of EGRESS_PROTOCOLS in any case (OSM drops such a port; meshgate denies it).
 */
export function normalizeProtocol(p: unknown): EgressProtocol | undefined {
  if (typeof p !== 'string') return undefined;
  const lower = p.toLowerCase();
  return KNOWN.has(lower) ? (lower as EgressProtocol) : undefined;
}
