import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { applyPatch, type Operation as PatchOperation } from 'rfc6902';

/**
 * A test client that calls meshgate's webhook the way kube-apiserver does (POST over verified
 * TLS ≥ 1.2, `Content-Type: application/json`, `?timeout=10s`) and checks every answer the way
 * kube-apiserver's webhook dispatchers do before trusting it. A check that fails throws
 * `AdmissionContractError`, so a test that merely sends a review also proves the contract.
 */

export class AdmissionContractError extends Error {
  override name = 'AdmissionContractError';
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** Whether the request went over a connection reused from the agent (keep-alive). */
  reusedSocket: boolean;
}

export interface StatusCause {
  reason?: string;
  field?: string;
  message?: string;
}

export interface AdmissionResponseV1 {
  uid: string;
  allowed: boolean;
  status?: {
    status?: string;
    code?: number;
    reason?: string;
    message?: string;
    details?: { group?: string; kind?: string; name?: string; causes?: StatusCause[] };
  };
  patch?: string;
  patchType?: string;
  warnings?: string[];
  [key: string]: unknown;
}

export interface AdmissionReviewResponseV1 {
  apiVersion: string;
  kind: string;
  response: AdmissionResponseV1;
}

export interface CheckedReview {
  review: AdmissionReviewResponseV1;
  response: AdmissionResponseV1;
  /** The decoded JSON Patch (mutating answers that carry one). */
  patch?: PatchOperation[];
  /** request.object with the patch applied (RFC 6902), when there is a patch. */
  patched?: unknown;
  http: RawResponse;
}

export type WebhookPath = 'validate' | 'mutate';

interface ReviewRequestLike {
  request: { uid: string; object?: unknown };
}

const fail = (msg: string): never => {
  throw new AdmissionContractError(msg);
};

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** The checks kube-apiserver applies to a webhook's answer (plus meshgate's warning promises). */
export function checkAdmissionResponse(webhook: WebhookPath, request: ReviewRequestLike, http: RawResponse): CheckedReview {
  if (http.status !== 200) fail(`expected HTTP 200 from /${webhook}, got ${http.status}: ${http.body}`);
  const ct = String(http.headers['content-type'] ?? '');
  if (!ct.startsWith('application/json')) fail(`expected Content-Type application/json, got ${JSON.stringify(ct)}`);
  let review: AdmissionReviewResponseV1;
  try {
    review = JSON.parse(http.body) as AdmissionReviewResponseV1;
  } catch {
    return fail(`response body is not JSON: ${http.body.slice(0, 200)}`);
  }
  if (review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') {
    fail(`expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got ${review.apiVersion}, Kind=${review.kind}`);
  }
  const r = review.response;
  if (!r || typeof r !== 'object') return fail('webhook response was absent');
  if (r.uid !== request.request.uid) fail(`expected response.uid=${JSON.stringify(request.request.uid)}, got ${JSON.stringify(r.uid)}`);
  if (typeof r.allowed !== 'boolean') fail('response.allowed is not a boolean');
  if (!r.allowed && r.status !== undefined) {
    if (typeof r.status.code !== 'number' || r.status.code < 400) fail(`a denial must carry status.code >= 400, got ${r.status.code}`);
    if (!r.status.message) fail('a denial should carry status.message');
  }
  for (const w of r.warnings ?? []) {
    if (typeof w !== 'string') fail('warnings must be strings');
    if (CONTROL.test(w)) fail(`warning has a control character: ${JSON.stringify(w)}`);
    if (Array.from(w).length > 256) fail(`warning longer than 256 characters: ${w}`);
  }
  const out: CheckedReview = { review, response: r, http };
  if (webhook === 'validate') {
    if (r.patch !== undefined && r.patch !== '') fail('validating webhook may not return response.patch');
    if (r.patchType !== undefined) fail('validating webhook may not return response.patchType');
    return out;
  }
  const hasPatch = r.patch !== undefined && r.patch !== '';
  if (hasPatch !== (r.patchType !== undefined)) fail('mutating webhook must return patch and patchType together or neither');
  if (!hasPatch) return out;
  if (!r.allowed) fail('a denial must not carry a patch');
  if (r.patchType !== 'JSONPatch') fail(`unsupported patchType ${JSON.stringify(r.patchType)}`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(r.patch!)) fail('response.patch is not base64');
  let ops: unknown;
  try {
    ops = JSON.parse(Buffer.from(r.patch!, 'base64').toString('utf8'));
  } catch {
    return fail('response.patch is not base64 of JSON');
  }
  if (!Array.isArray(ops)) return fail('response.patch is not a JSON Patch array');
  const target = structuredClone(request.request.object ?? null);
  const results = applyPatch(target, ops as PatchOperation[]);
  results.forEach((e, i) => {
    if (e) fail(`patch operation ${i} (${JSON.stringify((ops as unknown[])[i])}) does not apply to request.object: ${e.name}: ${e.message}`);
  });
  out.patch = ops as PatchOperation[];
  out.patched = target;
  return out;
}

export interface AdmissionClientOptions {
  /** e.g. https://127.0.0.1:9443 */
  baseUrl: string;
  ca: string | Buffer;
  /** Reuse connections like kube-apiserver does (default true). */
  keepAlive?: boolean;
  /** Max TLS version to offer (tests of the minimum). */
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
}

export class AdmissionClient {
  readonly agent: https.Agent;

  constructor(private readonly opts: AdmissionClientOptions) {
    this.agent = new https.Agent({
      keepAlive: opts.keepAlive ?? true,
      maxSockets: 8,
      ca: opts.ca,
      minVersion: 'TLSv1.2',
      ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
    });
  }

  /** Any request, unchecked: for bad-input tests. */
  raw(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<RawResponse> {
    const url = new URL(path, this.opts.baseUrl);
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method, agent: this.agent, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), reusedSocket: req.reusedSocket }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** POSTs a JSON body to /validate or /mutate as kube-apiserver does. */
  post(webhook: WebhookPath, body: string | Buffer): Promise<RawResponse> {
    return this.raw('POST', `/${webhook}?timeout=10s`, body, { 'content-type': 'application/json', accept: 'application/json, */*' });
  }

  /** Sends an AdmissionReview and returns the checked answer (throws AdmissionContractError on a violation). */
  async review(webhook: WebhookPath, review: ReviewRequestLike): Promise<CheckedReview> {
    const http = await this.post(webhook, JSON.stringify(review));
    return checkAdmissionResponse(webhook, review, http);
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * What kubectl prints for a denied request (the API server wraps a webhook's status message as
 * `admission webhook "<name>" denied the request: <message>`): for reason Invalid, kubectl's
 * `The <Kind> "<name>" is invalid: ` followed by the causes (inline when one, `* ` lines when more);
 * otherwise `Error from server (<Reason>): admission webhook "<name>" denied the request: <message>`.
 */
export function renderKubectlError(review: AdmissionReviewResponseV1, opts: { webhookName?: string } = {}): string {
  const r = review.response;
  if (r.allowed) return '';
  const s = r.status ?? {};
  const webhookName = opts.webhookName ?? 'meshgate.openservicemesh.io';
  const deniedBy = `admission webhook ${JSON.stringify(webhookName)} denied the request`;
  if (s.reason === 'Invalid' && s.details) {
    const d = s.details;
    const head = d.kind || d.name ? `The ${d.kind ?? ''} ${JSON.stringify(d.name ?? '')} is invalid` : 'The request is invalid';
    const msgs = [...new Set((d.causes ?? []).map((c) => `${c.field ?? ''}: ${c.message ?? ''}`))];
    if (msgs.length === 0) return head;
    if (msgs.length === 1) return `${head}: ${msgs[0]}`;
    return `${head}: \n${msgs.map((m) => `* ${m}`).join('\n')}`;
  }
  const message = s.message ? `${deniedBy}: ${s.message}` : s.reason ? `${deniedBy}: ${s.reason}` : `${deniedBy} without explanation`;
  return s.reason ? `Error from server (${s.reason}): ${message}` : `Error from server: ${message}`;
}

/** kubectl's `Warning: ...` lines. */
export function renderKubectlWarnings(review: AdmissionReviewResponseV1): string[] {
  return (review.response.warnings ?? []).map((w) => `Warning: ${w}`);
}
