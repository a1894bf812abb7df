import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { KubeObj } from './object-store.js';
import { badRequest, notFound, serviceUnavailable, type ApiError } from './statuses.js';
import type { ResourceType } from './resources.js';

/** `/api/v1/namespaces/{ns}/services/{id}/proxy[/{path}]`: kube-apiserver's service proxy. */
export const SERVICE_PROXY_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)\/proxy(\/.*)?$/;

/**
 * utilnet.SplitSchemeNamePort: `name`, `name:port` or `scheme:name:port` (scheme http or https,
 * port a Service port's name or number).
 */
export function splitSchemeNamePort(id: string): { scheme: string; name: string; port: string } | undefined {
  const parts = id.split(':');
  let scheme = '';
  let name: string;
  let port = '';
  if (parts.length === 1) name = parts[0]!;
  else if (parts.length === 2) [name, port] = parts as [string, string];
  else if (parts.length === 3) [scheme, name, port] = parts as [string, string, string];
  else return undefined;
  if (!name || (parts.length >= 2 && !port) || (scheme !== '' && scheme !== 'http' && scheme !== 'https')) return undefined;
  return { scheme: scheme || 'http', name, port };
}

/**
 * Where the service proxy sends a request, resolved as ResourceLocation does it: a port number is
 * looked up among the Service's `spec.ports[].port` (not the target port; 503 "no service port N
 * found" otherwise, 404 when the Service is missing) and becomes that port's name; then a ready
 * endpoint for the port name (the test's `proxyService()`, standing in for Endpoints), 503 "no
 * endpoints available" otherwise.
 */
export function resolveServiceProxy(
  id: string,
  namespace: string,
  getService: (name: string) => KubeObj | undefined,
  endpoints: Map<string, string>,
  servicesType: ResourceType,
): { scheme: string; name: string; target: string } {
  const sp = splitSchemeNamePort(id);
  if (!sp) throw badRequest(`invalid service request "${id}"`);
  let portName = sp.port;
  const svc = getService(sp.name);
  if (/^\d+$/.test(sp.port)) {
    if (!svc) throw notFound(servicesType, sp.name);
    const ports = ((svc as { spec?: { ports?: { name?: string; port?: number }[] } }).spec?.ports ?? []);
    const found = ports.find((p) => p.port === Number(sp.port));
    if (!found) throw serviceUnavailable(`no service port ${sp.port} found for service "${sp.name}"`);
    portName = found.name ?? '';
  } else if (!svc) {
    // Endpoints share the Service's lifetime; kube-apiserver names the Endpoints in this 404.
    throw notFound({ ...servicesType, plural: 'endpoints' }, sp.name);
  }
  const target = endpoints.get(endpointKey(namespace, sp.name, portName));
  if (!target) throw serviceUnavailable(`no endpoints available for service "${sp.name}"`);
  return { scheme: sp.scheme, name: sp.name, target };
}

export const endpointKey = (namespace: string, service: string, portName: string): string => `${namespace}/${service}/${portName}`;

/**
 * Forwards the request to `target` (scheme://host:port of the endpoint) with the rest of the path
 * and the query, as kube-apiserver does: without the caller's Authorization (the authentication
 * filter removes it) and without verifying the endpoint's certificate (the service proxy's
 * transport does not). An unreachable endpoint is 503 "error trying to reach service".
 */
export function forwardServiceProxy(req: IncomingMessage, res: ServerResponse, scheme: string, target: string, rest: string, search: string, onStatus: (code: number) => void): Promise<void> {
  const endpoint = new URL(target);
  const url = `${scheme}://${endpoint.host}${rest || '/'}${search}`;
  const headers = { ...req.headers };
  delete headers.authorization;
  delete headers.host;
  const request = scheme === 'https' ? httpsRequest : httpRequest;
  return new Promise<void>((resolve, reject) => {
    const out = request(url, { method: req.method ?? 'GET', headers, rejectUnauthorized: false }, (upstream) => {
      onStatus(upstream.statusCode ?? 502);
      res.writeHead(upstream.statusCode ?? 502, upstream.headers);
      upstream.pipe(res);
      upstream.on('end', resolve);
      upstream.on('error', resolve);
    });
    out.on('error', (err) => reject(serviceUnavailable(`error trying to reach service: ${err.message}`) as ApiError));
    req.pipe(out);
  });
}
