import { ApiException } from '@kubernetes/client-node';
import { z } from 'zod';

/** What meshgate was doing when a request failed: named in every message. */
export interface ApiAction {
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
  /** API group, `''` for core. */
  group: string;
  /** Plural resource, e.g. `namespaces`, `meshconfigs`. */
  resource: string;
  name?: string;
  namespace?: string;
}

/** A failed API request, reduced to what a message needs. */
export interface ApiFailure {
  /** HTTP status, when the server answered. */
  code?: number;
  /** Status.reason (`NotFound`, `Forbidden`, `Conflict`, ...). */
  reason?: string;
  /** Status.message, or the transport error. */
  message: string;
  /** Set when the server was never reached (connection refused, DNS, TLS, timeout). */
  transport?: string;
  /** The transport failure was TLS verification. */
  tls?: boolean;
}

const StatusBody = z.object({ message: z.string().optional(), reason: z.string().optional(), code: z.number().optional() }).loose();

const TRANSPORT_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server certificate is self-signed and not trusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'the server certificate chain is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server certificate is not trusted',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the server certificate does not name this host',
  CERT_HAS_EXPIRED: 'the server certificate has expired',
  CERT_NOT_YET_VALID: 'the server certificate is not valid yet',
  CERT_SIGNATURE_FAILURE: 'the server certificate is not signed by the kubeconfig\'s certificate authority',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the server certificate is not signed by a trusted certificate authority',
};

/** TLS verification failures: the fix is the kubeconfig's CA, not the network. */
const isTlsCode = (code: string) => code.includes('CERT') || code.includes('TLS') || code.includes('SIGNATURE');

function transportCause(err: unknown): { text: string; tls: boolean } | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 6; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return { text: TRANSPORT_CODES[code] ? `${TRANSPORT_CODES[code]} (${code})` : code, tls: isTlsCode(code) };
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function parseBody(body: unknown): z.infer<typeof StatusBody> | undefined {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return body.trim() ? { message: body.trim().split('\n')[0] } : undefined;
    }
  }
  const parsed = StatusBody.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** Reduces whatever client-node threw (ApiException, watch error, fetch error) to an ApiFailure. */
export function failureOf(err: unknown): ApiFailure {
  if (err instanceof ApiException) {
    const status = parseBody(err.body);
    return { code: err.code, reason: status?.reason ?? reasonFor(err.code), message: status?.message ?? reasonFor(err.code) };
  }
  const e = err as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e?.statusCode === 'number') return { code: e.statusCode, reason: reasonFor(e.statusCode), message: String(e.message ?? '') };
  if (typeof e?.code === 'number') return { code: e.code, reason: reasonFor(e.code), message: String(e.message ?? '') };
  const transport = transportCause(err);
  const message = err instanceof Error ? err.message.split('\n')[0]! : String(err);
  return transport ? { message, transport: transport.text, ...(transport.tls ? { tls: true } : {}) } : { message };
}

function reasonFor(code: number): string {
  switch (code) {
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 409:
      return 'Conflict';
    case 410:
      return 'Gone';
    default:
      return `HTTP ${code}`;
  }
}

/** `meshconfigs.config.openservicemesh.io`, or `namespaces` for the core group. */
export function qualifiedResource(a: Pick<ApiAction, 'group' | 'resource'>): string {
  return a.group ? `${a.resource}.${a.group}` : a.resource;
}

function subject(a: ApiAction): string {
  const what = a.name ? `${qualifiedResource(a)} "${a.name}"` : qualifiedResource(a);
  return a.namespace ? `${what} in namespace ${a.namespace}` : what;
}

/**
 * One line that names what failed, why, and the fix. `server` is the API server URL from the
 * kubeconfig. NotFound on a named object is left to the caller, which knows what to suggest.
 */
export function describeApiFailure(err: unknown, action: ApiAction, server: string): string {
  const f = failureOf(err);
  if (f.transport && f.tls) {
    return `TLS verification of the Kubernetes API server at ${server} failed: ${f.transport}; check the certificate-authority of this cluster in the kubeconfig`;
  }
  if (f.transport) {
    return `cannot reach the Kubernetes API server at ${server}: ${f.transport}; check that the cluster is up and that KUBECONFIG or --kubeconfig points at it`;
  }
  switch (f.code) {
    case 401:
      return `the Kubernetes API server at ${server} rejected the credentials (401 Unauthorized); refresh the token or certificate in the kubeconfig`;
    case 403:
      // The server's message names the user, verb, resource and scope; add the permission to grant.
      return (
        `forbidden: ${f.message.includes('forbidden') ? f.message : `cannot ${action.verb} ${subject(action)}: ${f.message}`}; ` +
        `grant verb "${action.verb}" on resource "${action.resource}" in API group "${action.group}" to this user (a Role or ClusterRole and its binding)`
      );
    case 404:
      return action.name
        ? `${subject(action)} not found`
        : `${qualifiedResource(action)} is not installed in the cluster (the API server at ${server} does not serve it); install its CustomResourceDefinition`;
    case 409:
      return `conflict: ${subject(action)} kept changing while meshgate updated it (${f.message}); try again`;
    case undefined:
      return `cannot ${action.verb} ${subject(action)}: ${f.message}`;
    default:
      return `cannot ${action.verb} ${subject(action)}: ${f.message} (HTTP ${f.code} ${f.reason ?? ''})`.replace(/ \)$/, ')');
  }
}

export const isNotFound = (err: unknown): boolean => failureOf(err).code === 404;
export const isConflict = (err: unknown): boolean => failureOf(err).code === 409;
