/**
 * A faithful in-process fake of kube-apiserver for tests that drive the real
 * @kubernetes/client-node (and `bin/meshgate`) over HTTPS.
 *
 * What it serves:
 * - HTTPS on 127.0.0.1:<random port> with a generated CA (client-node 2.x refuses plain HTTP);
 *   bearer-token auth (401 otherwise). `kubeconfig()` writes a kubeconfig for it.
 * - Core v1 namespaces, secrets, configmaps; admissionregistration.k8s.io/v1 validating and mutating
 *   webhook configurations; the mesh CRDs (egresses and upstreamtrafficsettings in
 *   policy.openservicemesh.io and policy.flomesh.io v1alpha1, httproutegroups in
 *   specs.smi-spec.io/v1alpha4, meshconfigs in config.openservicemesh.io/v1alpha2 and
 *   config.flomesh.io/v1alpha3) and any type passed to `register()`. Discovery (`/api`, `/apis`,
 *   `/api/v1`, `/apis/G/V`, `/version`).
 * - The service proxy (`/api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/PATH`), resolved
 *   as kube-apiserver does (a port number is the Service's port, not its target) against the stored
 *   Service and the endpoint given to `proxyService()`, forwarding to it: 404 without the Service,
 *   503 without the port or an endpoint (or when the endpoint is unreachable), 403 when `forbid()`
 *   names the verb on `services/proxy`.
 * - TokenReview (`POST /apis/authentication.k8s.io/v1/tokenreviews`) for the tokens given to
 *   `issueToken()` (a ServiceAccount JWT) or `addToken()` (any user, audience-unaware), judged as
 *   kube-apiserver judges them (fake-apiserver/token-reviews.ts) at the time `now()` says;
 *   `revokeToken()`, and `failTokenReviews(500 | 429 | 'reset' | 'hang')` until `restoreTokenReviews()`.
 * - get, list (labelSelector, fieldSelector on metadata.name/namespace, `metadata.resourceVersion`),
 *   watch (`?watch=true&resourceVersion=N&allowWatchBookmarks=true`: newline-delimited JSON events
 *   ADDED/MODIFIED/DELETED replayed from the history after N, then live; BOOKMARKs; 410 Gone as an
 *   ERROR event (or HTTP 410, see `goneAs`) when N predates the retained history), create (POST,
 *   409 AlreadyExists, 404 for a missing namespace), update (PUT; `metadata.resourceVersion`
 *   precondition → 409 Conflict), delete, patch (merge, strategic-merge — merge semantics — and
 *   JSON patch). Errors are real `Status` objects (401/403/404/409/410/415/422).
 *
 * Switches for failure tests (watch switches take an optional `resource: "group/plural"`):
 * `dropWatches()`, `pauseWatches()`/`resumeWatches()` (watches down,
 * new ones held until resumed), `uninstall()`/`install()` a CRD (404 on its endpoints),
 * `forbid()` a verb on a resource (403), `injectConflicts(n)` (next n updates/patches get 409),
 * `compact()` (forget history → 410 for older resourceVersions), `historyWindow`,
 * `holdRequests()`/`releaseRequests()` (a slow API server: matching requests wait unanswered),
 * `sendBookmarks()`. Every request is logged in `requests` for assertions.
 *
 * Usage:
 *   const api = await FakeApiServer.start();
 *   api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'curl' } });
 *   const kc = await api.kubeconfig();            // path of a kubeconfig file
 *   ...
 *   await api.close();
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateBundle } from '../../src/certs/generate.js';
import { ObjectStore, type KubeObj, type StoredEvent } from './fake-apiserver/object-store.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './fake-apiserver/patches.js';
import { apiVersionOf, BUILT_IN_TYPES, MESH_CRD_TYPES, typeKey, type ResourceType } from './fake-apiserver/resources.js';
import {
  reviewToken,
  serviceAccountJwt,
  TOKEN_REVIEW_PATH,
  TOKEN_REVIEW_TYPE,
  type FakeToken,
  type IssueTokenOptions,
  type TokenReviewFailure,
} from './fake-apiserver/token-reviews.js';
import { matches, parseSelector, type Requirement } from './fake-apiserver/selectors.js';
import { endpointKey, forwardServiceProxy, resolveServiceProxy, SERVICE_PROXY_PATH } from './fake-apiserver/service-proxy.js';
import {
  ApiError,
  badRequest,
  conflict,
  forbidden,
  forbiddenSubresource,
  invalid,
  methodNotAllowed,
  notFound,
  unauthorized,
  unknownResource,
  unsupportedMediaType,
} from './fake-apiserver/statuses.js';

export { crdType, type ResourceType } from './fake-apiserver/resources.js';
export type { KubeObj } from './fake-apiserver/object-store.js';
export type { FakeToken, IssueTokenOptions, TokenReviewFailure } from './fake-apiserver/token-reviews.js';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

export interface FakeApiServerOptions {
  /** How many events the history keeps; older resourceVersions get 410 Gone. Default 10000. */
  historyWindow?: number;
  /** Period of BOOKMARK events on watches that allow them; 0 disables the timer. Default 0. */
  bookmarkIntervalMs?: number;
  /** How a too-old watch resourceVersion is answered: an ERROR event with a 410 Status (what
   * kube-apiserver does) or an HTTP 410 response. Default 'event'. */
  goneAs?: 'event' | 'http';
  /** The user RBAC messages name. */
  user?: string;
  /** The clock token expiry is judged by (ms since the epoch). Default `Date.now`. */
  now?: () => number;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  verb: Verb | 'discovery' | 'unknown';
  /** `group/resource`, e.g. `config.openservicemesh.io/meshconfigs` or `/namespaces`. */
  resource?: string;
  namespace?: string;
  name?: string;
  status?: number;
  body?: unknown;
}

export interface ForbidRule {
  verb: Verb | '*';
  /** Plural resource name, e.g. `namespaces`, `meshconfigs`, or `services/proxy` (the service proxy). */
  resource: string;
  /** API group; omitted matches every group. */
  group?: string;
}

/** Which requests `holdRequests()` holds: a verb (or several), optionally of one `group/plural`. */
export interface HoldRule {
  verb: Verb | Verb[];
  resource?: string;
}

interface OpenWatch {
  res: ServerResponse;
  /** `group/plural` */
  resource: string;
  close(abrupt: boolean): void;
}

interface ResourcePath {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

const TOKEN = 'fake-apiserver-token';

/**
 * Writes a one-cluster kubeconfig (server URL, optional CA, bearer token) to `path` and returns the
 * path: for the fake API server, and for the tests' stand-ins for an API server that never answers.
 */
export async function writeKubeconfig(path: string, opts: { server: string; caPem?: string; token: string }): Promise<string> {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server: opts.server, ...(opts.caPem ? { 'certificate-authority-data': Buffer.from(opts.caPem).toString('base64') } : {}) } }],
    users: [{ name: 'fake', user: { token: opts.token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: 'default' } }],
    'current-context': 'fake',
  };
  await writeFile(path, stringify(config));
  return path;
}

/** kube-apiserver's generateName suffix: five characters of its alphabet (utilrand.String), here the n-th in order. */
function generatedSuffix(n: number): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let out = '';
  for (let i = 0; i < 5; i++, n = Math.floor(n / alphabet.length)) out = alphabet[n % alphabet.length] + out;
  return out;
}

export class FakeApiServer {
  readonly store: ObjectStore;
  readonly requests: RequestRecord[] = [];
  private readonly types = new Map<string, { type: ResourceType; installed: boolean }>();
  private readonly watches = new Set<OpenWatch>();
  private readonly sockets = new Set<Socket>();
  private readonly held: (() => void)[] = [];
  /** Requests `holdRequests()` matched, waiting for `releaseRequests()`. */
  private readonly heldRequestQueue: (() => void)[] = [];
  private holdRules: HoldRule[] = [];
  /** While set, watch requests (all, or of one `group/plural`) are held. */
  private paused: { resource?: string } | undefined;
  private forbidRules: ForbidRule[] = [];
  private conflictsToInject = 0;
  /** generateName suffixes: counted, not random, so a run names its objects the same way every time. */
  private generatedNames = 0;
  private server!: Server;
  private port = 0;
  private caCertPem = '';
  private readonly user: string;
  private readonly goneAs: 'event' | 'http';
  /** Tokens TokenReview knows, by token. */
  readonly tokens = new Map<string, FakeToken>();
  private tokenReviewFailure: TokenReviewFailure | undefined;
  /** Ready endpoints (`scheme://host:port`) by namespace/service/port name, what EndpointSlices would say. */
  private readonly serviceEndpoints = new Map<string, string>();
  /** The clock token expiry is judged by; tests may replace it. */
  now: () => number;

  private constructor(private readonly opts: FakeApiServerOptions) {
    this.store = new ObjectStore(opts.historyWindow ?? 10_000);
    this.user = opts.user ?? 'system:serviceaccount:osm-system:meshgate';
    this.goneAs = opts.goneAs ?? 'event';
    this.now = opts.now ?? (() => Date.now());
    for (const t of [...BUILT_IN_TYPES, ...MESH_CRD_TYPES]) this.register(t);
  }

  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(opts);
    await s.listen();
    return s;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }
  get caCert(): string {
    return this.caCertPem;
  }
  get token(): string {
    return TOKEN;
  }
  /** Watches currently streaming. */
  get openWatchCount(): number {
    return this.watches.size;
  }
  /** Watch requests held by `pauseWatches()`. */
  get heldWatchCount(): number {
    return this.held.length;
  }
  set historyWindow(n: number) {
    this.store.historyWindow = n;
  }

  // ---------- resource types ----------

  /** Serves a resource type (a CRD, installed unless said otherwise). */
  register(type: ResourceType, opts: { installed?: boolean } = {}): void {
    this.types.set(typeKey(type.group, type.version, type.plural), { type, installed: opts.installed ?? true });
  }

  /** Makes a CRD "not installed": its endpoints 404 and its objects are gone; its watches end. */
  uninstall(group: string, plural: string): void {
    for (const entry of this.types.values()) {
      if (entry.type.group === group && entry.type.plural === plural) {
        if (entry.type.builtIn) throw new Error(`${plural} is built in and cannot be uninstalled`);
        entry.installed = false;
        this.store.dropType(entry.type);
      }
    }
    for (const w of [...this.watches]) {
      const path = (w.res.req as IncomingMessage).url ?? '';
      if (path.includes(`/${group}/`) && path.includes(`/${plural}`)) w.close(false);
    }
  }

  /** Installs a CRD (again): its endpoints answer from now on, with no objects. */
  install(group: string, plural: string): void {
    for (const entry of this.types.values()) if (entry.type.group === group && entry.type.plural === plural) entry.installed = true;
  }

  /** The served type for an apiVersion and kind. */
  typeFor(apiVersion: string, kind: string): ResourceType {
    for (const { type } of this.types.values()) if (apiVersionOf(type) === apiVersion && type.kind === kind) return type;
    throw new Error(`fake-apiserver: no type ${apiVersion} ${kind}; register() it`);
  }

  // ---------- direct object access (what kubectl would do) ----------

  create(obj: KubeObj): KubeObj {
    const t = this.typeFor(obj.apiVersion, obj.kind);
    return this.store.create(t, t.namespaced ? (obj.metadata?.namespace ?? 'default') : '', obj);
  }

  get(apiVersion: string, kind: string, name: string, namespace = ''): KubeObj | undefined {
    const t = this.typeFor(apiVersion, kind);
    return this.store.get(t, t.namespaced ? namespace : '', name);
  }

  /** Replaces an object (no resourceVersion precondition unless the object carries one). */
  update(obj: KubeObj): KubeObj {
    const t = this.typeFor(obj.apiVersion, obj.kind);
    return this.store.update(t, t.namespaced ? (obj.metadata?.namespace ?? 'default') : '', obj.metadata.name, obj);
  }

  /** Creates or replaces, like `kubectl apply`. */
  apply(obj: KubeObj): KubeObj {
    const t = this.typeFor(obj.apiVersion, obj.kind);
    const ns = t.namespaced ? (obj.metadata?.namespace ?? 'default') : '';
    const current = this.store.get(t, ns, obj.metadata.name);
    if (!current) return this.store.create(t, ns, obj);
    const { resourceVersion: _rv, ...metadata } = obj.metadata;
    return this.store.update(t, ns, obj.metadata.name, { ...obj, metadata });
  }

  /** `kubectl patch --type=merge`. */
  mergePatch(apiVersion: string, kind: string, name: string, namespace: string, patch: unknown): KubeObj {
    const t = this.typeFor(apiVersion, kind);
    const ns = t.namespaced ? namespace : '';
    const current = this.store.get(t, ns, name);
    if (!current) throw new Error(`${kind} ${namespace}/${name} not found`);
    return this.store.update(t, ns, name, mergePatch(current, patch) as KubeObj);
  }

  remove(apiVersion: string, kind: string, name: string, namespace = ''): KubeObj {
    const t = this.typeFor(apiVersion, kind);
    return this.store.delete(t, t.namespaced ? namespace : '', name);
  }

  // ---------- failure switches ----------

  /**
   * Ends open watches (all, or those of one resource given as `group/plural`, e.g.
   * `policy.openservicemesh.io/egresses` or `/namespaces`): cleanly (the stream ends) or abruptly
   * (the connection is reset).
   */
  dropWatches(opts: { abrupt?: boolean; resource?: string } = {}): void {
    for (const w of [...this.watches]) if (opts.resource === undefined || w.resource === opts.resource) w.close(opts.abrupt ?? false);
  }

  /** Drops open watches (all, or of one resource) and holds new ones unanswered until `resumeWatches()`. */
  pauseWatches(opts: { abrupt?: boolean; resource?: string } = {}): void {
    this.paused = opts.resource !== undefined ? { resource: opts.resource } : {};
    this.dropWatches(opts);
  }

  /** Answers the held watch requests (from the resourceVersion each asked for) and serves new ones. */
  resumeWatches(): void {
    this.paused = undefined;
    for (const start of this.held.splice(0)) start();
  }

  /**
   * Holds matching requests unanswered (a slow API server: a list, a get or a watch that takes its
   * time) until `releaseRequests()`, which answers them as they would have been answered then.
   * `heldRequestCount` says how many arrived, so a test can act at that exact moment.
   */
  holdRequests(rule: HoldRule): void {
    this.holdRules.push(rule);
  }

  /** Stops holding and answers every held request (one whose client went away is dropped). */
  releaseRequests(): void {
    this.holdRules = [];
    for (const go of this.heldRequestQueue.splice(0)) go();
  }

  /** Requests held by `holdRequests()` now (including ones whose client has since gone away). */
  get heldRequestCount(): number {
    return this.heldRequestQueue.length;
  }

  /** Answers 403 for a verb on a resource until `allowAll()`. */
  forbid(rule: ForbidRule): void {
    this.forbidRules.push(rule);
  }
  allowAll(): void {
    this.forbidRules = [];
  }

  /** The next `n` updates or patches fail with 409 Conflict. */
  injectConflicts(n: number): void {
    this.conflictsToInject = n;
  }

  /** Forgets the event history: any watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.store.compact();
  }

  /** Sends a BOOKMARK at the current resourceVersion on every watch that allows bookmarks. */
  sendBookmarks(): void {
    for (const w of this.watches) (w as OpenWatch & { bookmark?: () => void }).bookmark?.();
  }

  // ---------- service proxy ----------

  /**
   * The ready endpoint behind a Service's port (by port name), e.g.
   * `proxyService('osm-system', 'meshgate', 'https-webhook', 'https://127.0.0.1:PORT')`; the service
   * proxy forwards to it (the Service object itself is created as any other). `undefined` removes
   * it: no ready endpoint, 503.
   */
  proxyService(namespace: string, service: string, portName: string, target: string | undefined): void {
    if (target === undefined) this.serviceEndpoints.delete(endpointKey(namespace, service, portName));
    else this.serviceEndpoints.set(endpointKey(namespace, service, portName), target);
  }

  // ---------- TokenReview ----------

  /** Issues a ServiceAccount token (a JWT with `exp`) the TokenReview endpoint accepts until it expires. */
  issueToken(opts: IssueTokenOptions): string {
    const o = { audiences: ['meshgate'], expirationSeconds: 3600, issuedAt: this.now(), ...opts };
    const token = serviceAccountJwt(o);
    this.tokens.set(token, {
      username: `system:serviceaccount:${o.namespace}:${o.name}`,
      uid: randomUUID(),
      groups: ['system:serviceaccounts', `system:serviceaccounts:${o.namespace}`, 'system:authenticated'],
      audiences: o.audiences,
      expiresAt: Math.floor(o.issuedAt / 1000) * 1000 + o.expirationSeconds * 1000,
    });
    return token;
  }

  /** Makes TokenReview know an arbitrary token (any user, audiences, expiry, or audience-unaware). */
  addToken(token: string, spec: FakeToken): void {
    this.tokens.set(token, spec);
  }

  /** Forgets a token (what deleting its pod or Secret does): reviews answer "invalid bearer token". */
  revokeToken(token: string): void {
    this.tokens.delete(token);
  }

  /** Until `restoreTokenReviews()`, TokenReview answers this HTTP status, resets the connection, or never answers. */
  failTokenReviews(failure: TokenReviewFailure): void {
    this.tokenReviewFailure = failure;
  }
  restoreTokenReviews(): void {
    this.tokenReviewFailure = undefined;
  }

  /** The TokenReview requests received (their bodies carry `spec.token`). */
  tokenReviewRequests(): RequestRecord[] {
    return this.requestsFor('create', `${TOKEN_REVIEW_TYPE.group}/${TOKEN_REVIEW_TYPE.plural}`);
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  /** Requests matching a verb and resource (`group/plural`, core group as `/namespaces`). */
  requestsFor(verb: RequestRecord['verb'], resource?: string): RequestRecord[] {
    return this.requests.filter((r) => r.verb === verb && (resource === undefined || r.resource === resource));
  }

  /** Writes a kubeconfig (server URL, CA, bearer token) and returns its path. */
  async kubeconfig(opts: { dir?: string; server?: string } = {}): Promise<string> {
    const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'fake-apiserver-')));
    return writeKubeconfig(join(dir, 'kubeconfig'), { server: opts.server ?? this.url, caPem: this.caCertPem, token: TOKEN });
  }

  async close(): Promise<void> {
    this.paused = undefined;
    this.held.length = 0;
    this.holdRules = [];
    this.heldRequestQueue.length = 0;
    for (const w of [...this.watches]) w.close(true);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---------- HTTP ----------

  private async listen(): Promise<void> {
    const bundle = await generateBundle('fake-apiserver', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    this.caCertPem = bundle.caCert;
    this.server = createServer({ cert: bundle.cert, key: bundle.key }, (req, res) => {
      void this.handle(req, res);
    });
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://fake');
    const query = Object.fromEntries(url.searchParams.entries());
    const record: RequestRecord = { method: req.method ?? 'GET', path: url.pathname, query, contentType: req.headers['content-type'], verb: 'unknown' };
    this.requests.push(record);
    const reply = (code: number, body: unknown) => {
      record.status = code;
      if (res.writableEnded || res.destroyed) return;
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) throw unauthorized();
      if (url.pathname === TOKEN_REVIEW_PATH) return await this.tokenReview(req, res, record, reply);
      const proxied = SERVICE_PROXY_PATH.exec(url.pathname);
      if (proxied) return await this.serviceProxy(req, res, record, proxied, url.search);
      const discovery = this.discovery(url.pathname);
      if (discovery !== undefined) {
        record.verb = 'discovery';
        if (discovery === null) throw unknownResource();
        return reply(200, discovery);
      }
      const rp = this.parsePath(url.pathname);
      const verb = verbOf(req.method ?? 'GET', rp, query);
      Object.assign(record, { verb, resource: `${rp.type.group}/${rp.type.plural}`, namespace: rp.namespace, name: rp.name });
      this.authorize(verb, rp);
      if (this.holdRules.some((h) => (Array.isArray(h.verb) ? h.verb.includes(verb) : h.verb === verb) && (h.resource === undefined || h.resource === record.resource))) {
        await new Promise<void>((resolve) => this.heldRequestQueue.push(resolve));
        if (res.destroyed) return;
      }
      const body = ['POST', 'PUT', 'PATCH'].includes(req.method ?? '') ? await readJson(req) : undefined;
      record.body = body;
      switch (verb) {
        case 'get': {
          const o = this.store.get(rp.type, rp.namespace ?? '', rp.name!);
          if (!o) throw notFound(rp.type, rp.name!);
          return reply(200, o);
        }
        case 'list':
          return reply(200, this.list(rp, query));
        case 'watch':
          return this.watch(rp, query, res, record);
        case 'create':
          return reply(201, this.createFromRequest(rp, body as KubeObj));
        case 'update':
          return reply(200, this.updateFromRequest(rp, body as KubeObj));
        case 'patch':
          return reply(200, this.patchFromRequest(rp, req.headers['content-type'] ?? '', body));
        case 'delete':
          return reply(200, this.store.delete(rp.type, rp.namespace ?? '', rp.name!));
      }
    } catch (err) {
      if (err instanceof ApiError) return reply(err.status.code, err.status);
      return reply(500, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: String(err), reason: 'InternalError', code: 500 });
    }
  }

  /** kube-apiserver's TokenReview create: nothing stored, the review returned with its status (201). */
  private async tokenReview(req: IncomingMessage, res: ServerResponse, record: RequestRecord, reply: (code: number, body: unknown) => void): Promise<void> {
    Object.assign(record, { verb: 'create', resource: `${TOKEN_REVIEW_TYPE.group}/${TOKEN_REVIEW_TYPE.plural}` });
    if (req.method !== 'POST') throw methodNotAllowed();
    this.authorize('create', { type: TOKEN_REVIEW_TYPE, namespace: undefined, name: undefined, subresource: undefined });
    const body = (await readJson(req)) as { spec?: { token?: unknown; audiences?: unknown } } | undefined;
    record.body = body;
    const failure = this.tokenReviewFailure;
    if (failure === 'hang') return; // the socket stays open until close()
    if (failure === 'reset') {
      res.socket?.destroy();
      return;
    }
    if (typeof failure === 'number') {
      const reason = failure === 429 ? 'TooManyRequests' : failure === 503 ? 'ServiceUnavailable' : 'InternalError';
      return reply(failure, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `fake TokenReview failure ${failure}`, reason, code: failure });
    }
    const token = typeof body?.spec?.token === 'string' ? body.spec.token : '';
    if (!token) throw badRequest('token is required for TokenReview in authentication');
    const audiences = Array.isArray(body?.spec?.audiences) ? body.spec.audiences.filter((a): a is string => typeof a === 'string') : undefined;
    const status = reviewToken(this.tokens, token, audiences, this.now());
    return reply(201, {
      kind: 'TokenReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: { token, ...(audiences ? { audiences } : {}) },
      status,
    });
  }

  /** kube-apiserver's service proxy: RBAC on `services/proxy`, ResourceLocation, then the forwarded request. */
  private async serviceProxy(req: IncomingMessage, res: ServerResponse, record: RequestRecord, m: RegExpExecArray, search: string): Promise<void> {
    const namespace = decodeURIComponent(m[1]!);
    const id = decodeURIComponent(m[2]!);
    const verbs: Record<string, Verb> = { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
    const verb = verbs[req.method ?? 'GET'];
    if (!verb) throw methodNotAllowed();
    const name = id.split(':').length === 3 ? id.split(':')[1]! : id.split(':')[0]!;
    Object.assign(record, { verb, resource: '/services/proxy', namespace, name });
    for (const r of this.forbidRules) {
      if ((r.verb === '*' || r.verb === verb) && r.resource === 'services/proxy' && (r.group === undefined || r.group === '')) {
        throw forbiddenSubresource('services', 'proxy', verb, this.user, name, namespace);
      }
    }
    const services = this.typeFor('v1', 'Service');
    const { scheme, target } = resolveServiceProxy(id, namespace, (n) => this.store.get(services, namespace, n), this.serviceEndpoints, services);
    await forwardServiceProxy(req, res, scheme, target, m[3] ?? '', search, (code) => (record.status = code));
  }

  private installedTypes(): ResourceType[] {
    return [...this.types.values()].filter((e) => e.installed).map((e) => e.type);
  }

  /** Discovery documents; undefined when the path is not a discovery path, null for a 404. */
  private discovery(path: string): unknown {
    const parts = path.split('/').filter(Boolean);
    if (path === '/version') return { major: '1', minor: '33', gitVersion: 'v1.33.0-fake', platform: 'linux/amd64' };
    if (parts.length === 1 && parts[0] === 'api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }] };
    if (parts.length === 1 && parts[0] === 'apis') {
      const groups = new Map<string, string[]>();
      for (const t of this.installedTypes()) if (t.group) groups.set(t.group, [...new Set([...(groups.get(t.group) ?? []), t.version])]);
      return {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [...groups].map(([name, versions]) => ({
          name,
          versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
          preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
        })),
      };
    }
    const gv = parts[0] === 'api' && parts.length === 2 ? { group: '', version: parts[1] } : parts[0] === 'apis' && parts.length === 3 ? { group: parts[1], version: parts[2] } : undefined;
    if (!gv) return undefined;
    const types = this.installedTypes().filter((t) => t.group === gv.group && t.version === gv.version);
    if (types.length === 0) return null;
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: gv.group ? `${gv.group}/${gv.version}` : gv.version,
      resources: types.map((t) => ({
        name: t.plural,
        singularName: t.singular,
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
      })),
    };
  }

  private parsePath(path: string): ResourcePath {
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts.length >= 3) [group, version, rest] = ['', parts[1]!, parts.slice(2)];
    else if (parts[0] === 'apis' && parts.length >= 4) [group, version, rest] = [parts[1]!, parts[2]!, parts.slice(3)];
    else throw unknownResource();
    const lookup = (plural: string) => {
      const entry = this.types.get(typeKey(group, version, plural));
      if (!entry || !entry.installed) throw unknownResource();
      return entry.type;
    };
    // /namespaces/{ns}/{plural}[/{name}[/{sub}]] for namespaced types; otherwise /{plural}[/{name}[/{sub}]].
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const type = lookup(rest[2]!);
      if (!type.namespaced) throw unknownResource();
      return { type, namespace: rest[1], name: rest[3], subresource: rest[4] };
    }
    const type = lookup(rest[0]!);
    if (type.namespaced && rest.length > 1) throw unknownResource();
    return { type, namespace: undefined, name: rest[1], subresource: rest[2] };
  }

  private authorize(verb: Verb, rp: ResourcePath): void {
    for (const r of this.forbidRules) {
      if ((r.verb === '*' || r.verb === verb) && r.resource === rp.type.plural && (r.group === undefined || r.group === rp.type.group)) {
        throw forbidden(rp.type, verb, this.user, rp.name, rp.namespace);
      }
    }
  }

  private list(rp: ResourcePath, query: Record<string, string>): unknown {
    const labels = parseSelector(query.labelSelector);
    const fields = parseSelector(query.fieldSelector);
    const items = this.store
      .list(rp.type, rp.type.namespaced ? rp.namespace : undefined)
      .filter((o) => selected(o, labels, fields))
      // Built-in lists carry no kind/apiVersion on their items; custom resource lists do.
      .map((o) => (rp.type.builtIn ? stripTypeMeta(o) : o));
    return { kind: `${rp.type.kind}List`, apiVersion: apiVersionOf(rp.type), metadata: { resourceVersion: String(this.store.resourceVersion) }, items };
  }

  private watch(rp: ResourcePath, query: Record<string, string>, res: ServerResponse, record: RequestRecord): void {
    const start = () => this.startWatch(rp, query, res, record);
    if (this.paused && (this.paused.resource === undefined || this.paused.resource === `${rp.type.group}/${rp.type.plural}`)) {
      this.held.push(start);
      return;
    }
    start();
  }

  private startWatch(rp: ResourcePath, query: Record<string, string>, res: ServerResponse, record: RequestRecord): void {
    if (res.destroyed) return;
    const tKey = typeKey(rp.type.group, rp.type.version, rp.type.plural);
    const labels = parseSelector(query.labelSelector);
    const fields = parseSelector(query.fieldSelector);
    const inScope = (e: StoredEvent) => e.typeKey === tKey && (!rp.type.namespaced || rp.namespace === undefined || e.namespace === rp.namespace);
    const rv = query.resourceVersion ?? '';
    let backlog: { type: string; object: KubeObj }[];
    try {
      if (rv === '' || rv === '0') {
        // "Start at most recent": synthetic ADDED for every current object, then live events.
        backlog = this.store
          .list(rp.type, rp.type.namespaced ? rp.namespace : undefined)
          .filter((o) => selected(o, labels, fields))
          .map((object) => ({ type: 'ADDED', object }));
      } else {
        backlog = this.store
          .eventsSince(Number(rv), tKey)
          .filter(inScope)
          .map((e) => toWatchEvent(e, labels, fields))
          .filter((e): e is { type: string; object: KubeObj } => !!e);
      }
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      record.status = this.goneAs === 'http' ? err.status.code : 200;
      if (this.goneAs === 'http') {
        res.writeHead(err.status.code, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(err.status));
      } else {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
        res.end(JSON.stringify({ type: 'ERROR', object: err.status }) + '\n');
      }
      return;
    }
    record.status = 200;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const write = (e: unknown) => {
      if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify(e) + '\n');
    };
    for (const e of backlog) write(e);
    const unsubscribe = this.store.onEvent((e) => {
      if (!inScope(e)) return;
      const we = toWatchEvent(e, labels, fields);
      if (we) write(we);
    });
    const allowBookmarks = query.allowWatchBookmarks === 'true';
    const bookmark = () => {
      if (allowBookmarks) write({ type: 'BOOKMARK', object: { kind: rp.type.kind, apiVersion: apiVersionOf(rp.type), metadata: { resourceVersion: String(this.store.resourceVersion) } } });
    };
    const timers: NodeJS.Timeout[] = [];
    if (allowBookmarks && (this.opts.bookmarkIntervalMs ?? 0) > 0) timers.push(setInterval(bookmark, this.opts.bookmarkIntervalMs));
    if (query.timeoutSeconds) timers.push(setTimeout(() => close(false), Number(query.timeoutSeconds) * 1000));
    const watch: OpenWatch & { bookmark: () => void } = {
      res,
      resource: `${rp.type.group}/${rp.type.plural}`,
      bookmark,
      close: (abrupt) => close(abrupt),
    };
    const close = (abrupt: boolean) => {
      if (!this.watches.delete(watch)) return;
      unsubscribe();
      for (const t of timers) clearTimeout(t);
      if (abrupt) res.socket?.destroy();
      else res.end();
    };
    this.watches.add(watch);
    res.on('close', () => close(false));
  }

  private createFromRequest(rp: ResourcePath, body: KubeObj): KubeObj {
    if (!body || typeof body !== 'object') throw badRequest('the request body must be an object');
    const ns = rp.type.namespaced ? (rp.namespace ?? body.metadata?.namespace ?? 'default') : '';
    if (rp.type.namespaced && body.metadata?.namespace && body.metadata.namespace !== ns) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const metadata = { ...(body.metadata ?? {}) };
    if (!metadata.name && metadata.generateName) metadata.name = `${metadata.generateName}${generatedSuffix(this.generatedNames++)}`;
    if (!metadata.name) throw invalid(rp.type, '', 'metadata.name: Required value: name or generateName is required');
    delete metadata.resourceVersion;
    return this.store.create(rp.type, ns, { ...body, metadata });
  }

  private takeInjectedConflict(rp: ResourcePath): void {
    if (this.conflictsToInject > 0) {
      this.conflictsToInject--;
      throw conflict(rp.type, rp.name!);
    }
  }

  private updateFromRequest(rp: ResourcePath, body: KubeObj): KubeObj {
    if (!body || typeof body !== 'object') throw badRequest('the request body must be an object');
    if (body.metadata?.name !== rp.name) throw badRequest('the name of the object does not match the name on the URL');
    if (!rp.type.builtIn && !body.metadata?.resourceVersion) {
      throw invalid(rp.type, rp.name!, 'metadata.resourceVersion: Invalid value: 0x0: must be specified for an update');
    }
    this.takeInjectedConflict(rp);
    return this.store.update(rp.type, rp.namespace ?? '', rp.name!, body);
  }

  private patchFromRequest(rp: ResourcePath, contentType: string, body: unknown): KubeObj {
    const ns = rp.namespace ?? '';
    const current = this.store.get(rp.type, ns, rp.name!);
    if (!current) throw notFound(rp.type, rp.name!);
    this.takeInjectedConflict(rp);
    const type = contentType.split(';')[0]!.trim();
    let patched: unknown;
    try {
      if (type === 'application/merge-patch+json') patched = mergePatch(current, body);
      else if (type === 'application/strategic-merge-patch+json') patched = strategicMergePatch(current, body);
      else if (type === 'application/json-patch+json') patched = jsonPatch(current, body);
      else throw unsupportedMediaType(type);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw invalid(rp.type, rp.name!, `the patch could not be applied: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
    return this.store.update(rp.type, ns, rp.name!, patched as KubeObj);
  }

}

function verbOf(method: string, rp: ResourcePath, query: Record<string, string>): Verb {
  if (rp.subresource) throw unknownResource();
  switch (method) {
    case 'GET':
      if (rp.name) return 'get';
      return query.watch === 'true' || query.watch === '1' ? 'watch' : 'list';
    case 'POST':
      if (rp.name) throw methodNotAllowed();
      return 'create';
    case 'PUT':
      if (!rp.name) throw methodNotAllowed();
      return 'update';
    case 'PATCH':
      if (!rp.name) throw methodNotAllowed();
      return 'patch';
    case 'DELETE':
      if (!rp.name) throw methodNotAllowed();
      return 'delete';
    default:
      throw methodNotAllowed();
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest(`the request body is not valid JSON: ${text.slice(0, 60)}`);
  }
}

function stripTypeMeta(o: KubeObj): KubeObj {
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}

function selected(o: KubeObj | undefined, labels: Requirement[], fields: Requirement[]): boolean {
  if (!o) return false;
  return matches(labels, o.metadata?.labels ?? {}) && matches(fields, { 'metadata.name': o.metadata?.name, 'metadata.namespace': o.metadata?.namespace });
}

/** A stored event as a selector-filtered watch sees it (label transitions become ADDED/DELETED). */
function toWatchEvent(e: StoredEvent, labels: Requirement[], fields: Requirement[]): { type: string; object: KubeObj } | undefined {
  const now = selected(e.object, labels, fields);
  if (e.type !== 'MODIFIED') return now ? { type: e.type, object: e.object } : undefined;
  const before = selected(e.previous, labels, fields);
  if (now && before) return { type: 'MODIFIED', object: e.object };
  if (now) return { type: 'ADDED', object: e.object };
  if (before) return { type: 'DELETED', object: e.object };
  return undefined;
}
