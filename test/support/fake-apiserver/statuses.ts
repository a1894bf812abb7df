import { qualifiedResource, type ResourceType } from './resources.js';

/** A metav1.Status as kube-apiserver sends it with every error. */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string; causes?: { reason?: string; message: string; field?: string }[] };
  code: number;
}

/** An HTTP error the fake answers with: its status code and Status body. */
export class ApiError extends Error {
  constructor(readonly status: Status) {
    super(status.message);
  }
}

function failure(code: number, reason: string, message: string, details?: Status['details']): ApiError {
  return new ApiError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code });
}

const detailsOf = (t: ResourceType, name?: string): Status['details'] => ({
  ...(name ? { name } : {}),
  ...(t.group ? { group: t.group } : {}),
  kind: t.plural,
});

/** The 404 for a URL no installed resource serves (what a missing CRD looks like). */
export const unknownResource = (): ApiError => failure(404, 'NotFound', 'the server could not find the requested resource', {});

export const notFound = (t: ResourceType, name: string): ApiError =>
  failure(404, 'NotFound', `${qualifiedResource(t)} "${name}" not found`, detailsOf(t, name));

export const namespaceNotFound = (ns: string): ApiError =>
  failure(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' });

export const alreadyExists = (t: ResourceType, name: string): ApiError =>
  failure(409, 'AlreadyExists', `${qualifiedResource(t)} "${name}" already exists`, detailsOf(t, name));

export const conflict = (t: ResourceType, name: string): ApiError =>
  failure(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(t)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    detailsOf(t, name),
  );

/** RBAC denial, in the authorizer's words. */
export function forbidden(t: ResourceType, verb: string, user: string, name: string | undefined, namespace: string | undefined): ApiError {
  const subject = name ? `${qualifiedResource(t)} "${name}"` : qualifiedResource(t);
  const scope = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
  return failure(
    403,
    'Forbidden',
    `${subject} is forbidden: User "${user}" cannot ${verb} resource "${t.plural}" in API group "${t.group}" ${scope}`,
    detailsOf(t, name),
  );
}

export const unauthorized = (): ApiError => failure(401, 'Unauthorized', 'Unauthorized');

export const badRequest = (message: string): ApiError => failure(400, 'BadRequest', message);

export const invalid = (t: ResourceType, name: string, message: string): ApiError =>
  failure(422, 'Invalid', `${t.kind} "${name}" is invalid: ${message}`, { ...detailsOf(t, name), causes: [{ reason: 'FieldValueInvalid', message }] });

export const unsupportedMediaType = (contentType: string): ApiError =>
  failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got ${contentType})`);

export const methodNotAllowed = (): ApiError => failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');

/** What a watch sends when its resourceVersion is older than the retained history. */
export const gone = (rv: string, oldest: number): ApiError =>
  failure(410, 'Expired', `too old resource version: ${rv} (${oldest})`);

/** RBAC denial of a subresource (e.g. `services/proxy`), in the authorizer's words. */
export function forbiddenSubresource(resource: string, subresource: string, verb: string, user: string, name: string, namespace: string): ApiError {
  return failure(
    403,
    'Forbidden',
    `${resource} "${name}" is forbidden: User "${user}" cannot ${verb} resource "${resource}/${subresource}" in API group "" in the namespace "${namespace}"`,
    { name, kind: resource },
  );
}

export const serviceUnavailable = (message: string): ApiError => failure(503, 'ServiceUnavailable', message);
