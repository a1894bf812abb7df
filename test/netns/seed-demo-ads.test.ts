/**
 * The seeds' egress demos replayed live over ADS (issue 11, "End to end"): seed 004 (OSM's egress
 * policy demo) with the osm profile and seed 002 (FSM's) with the fsm profile, the "pod" kept
 * running throughout.
 *
 * - The cluster is the fake API server; every policy of the demo is created, deleted and updated
 *   through its HTTP API as kubectl would (POST, DELETE, merge PATCH).
 * - `bin/meshgate serve --kubeconfig` watches it and serves ADS (TLS with the serving certificate,
 *   identity by TokenReview).
 * - The "sidecar" is the ADS agent (test/support/netns/ads-agent.ts) holding one stream with a
 *   token the fake API server issued for curl/curl with audience meshgate (the projected token),
 *   feeding what arrives to the stand-in Envoy (test/support/netns/envoy-standin.py) in the pod
 *   namespace, reloaded at each push.
 * - Real curl runs as the app UID in the pod namespace through the injected init container's
 *   interception rules.
 *
 * After each change the test waits until the stand-in runs exactly what `meshgate proxy config
 * --for curl/curl --kubeconfig` (the same compiler, from the same API server) prints, with the
 * per-type versions ADS sent; only then does curl run. No fixed sleeps. Needs root.
 */
import { expect } from 'chai';
import { status as grpcStatus } from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { contentVersion } from '../../src/egress/canonical.js';
import type { Json } from '../../src/egress/proxy-config.js';
import type { KubeObject } from '../../src/manifests/types.js';
import type { ProfileName } from '../../src/profile.js';
import { DEFAULT_SETTINGS, type MeshgateSettings } from '../../src/settings.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { AdsAgent, contentOf, LDS, type LoadedConfig } from '../support/netns/ads-agent.js';
import { EnvoyStandin, type ProxyConfig } from '../support/netns/envoy-standin.js';
import { injectedInitCommand } from '../support/netns/injection.js';
import { ADDR, NetnsRig, assertRoot } from '../support/netns/rig.js';
import { curlIn, startUpstreams, type CurlResult, type Upstreams } from '../support/netns/upstreams.js';
import { runCli, startServe, type ServeProcess } from '../support/run-cli.js';
import { testCertificates } from '../webhook/server-harness.js';
import { ensureDescriptors } from '../xds/descriptors.js';
import { freePort } from '../support/free-port.js';
import { demoBaseState } from '../support/netns/demo-state.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CLUSTER_CIDRS = [ADDR.v4.clusterCIDR, ADDR.v6.clusterCIDR];
const SETTINGS: MeshgateSettings = { ...DEFAULT_SETTINGS, clusterCIDRs: CLUSTER_CIDRS, iptablesBackend: 'auto' };
const EXT = ADDR.v4.external;
const PROXY_HOSTS = { 'httpbin.org': EXT };
/** What the sidecar's bootstrap holds before ADS answers: no egress listener (fails closed). */
const BOOTSTRAP: ProxyConfig = { version: 'bootstrap', listeners: [], routeConfigurations: [], clusters: [] };
/** The pod's node as the injected bootstrap names it; identity comes from the token alone. */
const NODE = { id: 'curl.curl', cluster: 'curl.curl' };

const PROFILES = [
  { name: 'osm', seed: '004 (OSM egress policy demo)', unmatched: 404 },
  { name: 'fsm', seed: '002 (FSM egress policy demo)', unmatched: 403 },
] as const;

const GET = 'http://httpbin.org:80/get';
const STATUS = 'http://httpbin.org:80/status/200';
const HTTPS = 'https://httpbin.org:443/get';

function parseYaml(file: string): KubeObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).flatMap((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
    const o = d.toJS() as KubeObject | null;
    return o ? [o] : [];
  });
}

const PLURALS: Record<string, string> = { Egress: 'egresses', HTTPRouteGroup: 'httproutegroups', MeshConfig: 'meshconfigs', Namespace: 'namespaces' };

/** The REST path of an object's collection (name omitted) or of the object. */
function apiPath(apiVersion: string, kind: string, namespace: string | undefined, name?: string): string {
  const plural = PLURALS[kind];
  if (!plural) throw new Error(`no plural for ${kind}`);
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return `${base}${namespace ? `/namespaces/${namespace}` : ''}/${plural}${name ? `/${name}` : ''}`;
}


function httpsJson(url: string, ca: string, opts: { method?: string; token?: string; body?: unknown; contentType?: string } = {}): Promise<{ status: number; body: unknown }> {
  return new Promise((res, rej) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = httpsRequest(
      url,
      {
        method: opts.method ?? 'GET',
        ca,
        headers: {
          ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
          ...(payload ? { 'Content-Type': opts.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
        },
      },
      (r) => {
        let text = '';
        r.setEncoding('utf8').on('data', (d: string) => (text += d));
        r.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON (e.g. /readyz)
          }
          res({ status: r.statusCode ?? 0, body });
        });
      },
    );
    req.on('error', rej);
    req.end(payload);
  });
}

class AdsSeedDemo {
  api: FakeApiServer | undefined;
  server: ServeProcess | undefined;
  rig: NetnsRig | undefined;
  upstreams: Upstreams | undefined;
  standin: EnvoyStandin | undefined;
  agent: AdsAgent | undefined;
  readonly others: AdsAgent[] = [];
  dir: string | undefined;
  kubeconfig = '';
  ca = '';
  xdsPort = 0;
  token = '';

  constructor(readonly profile: ProfileName) {}

  async start(): Promise<void> {
    ensureDescriptors();
    this.dir = mkdtempSync(join(tmpdir(), 'mg-seed-ads-'));
    const api = (this.api = await FakeApiServer.start());
    for (const o of demoBaseState(this.profile)) api.create(o as never);
    this.kubeconfig = await api.kubeconfig({ dir: this.dir });
    const certs = await testCertificates(0);
    writeFileSync(join(this.dir, 'tls.crt'), certs.cert);
    writeFileSync(join(this.dir, 'tls.key'), certs.key);
    this.ca = certs.caCert;
    this.xdsPort = await freePort();
    this.server = await startServe(
      [
        '--profile',
        this.profile,
        '--kubeconfig',
        this.kubeconfig,
        '--tls-cert',
        join(this.dir, 'tls.crt'),
        '--tls-key',
        join(this.dir, 'tls.key'),
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--xds-port',
        String(this.xdsPort),
        '--cluster-cidrs',
        CLUSTER_CIDRS.join(','),
      ],
      { hermetic: true },
    );
    await this.server.waitFor(/meshgate ADS serving 127\.0\.0\.1:\d+/);
    const deadline = Date.now() + 20_000;
    while ((await httpsJson(`${this.server.url}/readyz`, this.ca)).status !== 200) {
      if (Date.now() > deadline) throw new Error(`meshgate serve not ready:\n${this.server.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }

    this.rig = await NetnsRig.create({ extPorts: [8080] });
    this.upstreams = await startUpstreams(this.rig);
    const command = injectedInitCommand(this.profile, demoBaseState(this.profile), SETTINGS);
    const r = await this.rig.runCommand(command);
    expect(r.code, `injected init container:\n${r.stdout}\n${r.stderr}`).to.equal(0);
    this.standin = await EnvoyStandin.start(this.rig, BOOTSTRAP, PROXY_HOSTS);

    // The kubelet's projected token: ServiceAccount curl/curl, audience meshgate, one hour.
    this.token = api.issueToken({ namespace: 'curl', name: 'curl', audiences: ['meshgate'], expirationSeconds: 3600 });
    const standin = this.standin;
    this.agent = new AdsAgent({ port: this.xdsPort, ca: this.ca, token: this.token, node: NODE, load: (c) => standin.reload(c) });
  }

  async destroy(): Promise<void> {
    this.agent?.close();
    for (const a of this.others) a.close();
    await this.standin?.stop().catch(() => undefined);
    await this.rig?.destroy();
    this.upstreams?.cleanup();
    if (this.server) await this.server.stop('SIGKILL');
    await this.api?.close();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** A second stream (no stand-in behind it). */
  otherAgent(token: string | undefined, node = NODE): AdsAgent {
    const a = new AdsAgent({ port: this.xdsPort, ca: this.ca, ...(token !== undefined ? { token } : {}), node });
    this.others.push(a);
    return a;
  }

  private async kube(method: string, path: string, body?: unknown, contentType?: string): Promise<unknown> {
    const r = await httpsJson(`${this.api!.url}${path}`, this.api!.caCert, { method, token: this.api!.token, body, ...(contentType ? { contentType } : {}) });
    expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).to.be.oneOf([200, 201]);
    return r.body;
  }

  private policyFile(file: string): string {
    return join(ROOT, 'examples/policies', this.profile, file);
  }

  /** `kubectl create -f FILE`: each object POSTed to the API server. */
  async create(file: string): Promise<void> {
    for (const o of parseYaml(this.policyFile(file))) await this.kube('POST', apiPath(o.apiVersion, o.kind, o.metadata.namespace), o);
  }

  /** `kubectl apply -f FILE` of an object that exists: a JSON merge patch of its spec (what apply sends for a custom resource). */
  async patch(file: string): Promise<void> {
    for (const o of parseYaml(this.policyFile(file))) {
      await this.kube('PATCH', apiPath(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name), { spec: (o as { spec?: unknown }).spec }, 'application/merge-patch+json');
    }
  }

  /** `kubectl delete -f FILE`. */
  async delete(file: string): Promise<void> {
    for (const o of parseYaml(this.policyFile(file))) await this.kube('DELETE', apiPath(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name));
  }

  /** What curl/curl's sidecar should run now: `meshgate proxy config --for curl/curl --kubeconfig`. */
  async expected(): Promise<ProxyConfig> {
    const r = await runCli(['--profile', this.profile, 'proxy', 'config', '--for', 'curl/curl', '--kubeconfig', this.kubeconfig, '--cluster-cidrs', CLUSTER_CIDRS.join(','), '-o', 'json'], {
      hermetic: true,
    });
    expect(r.code, `proxy config: ${r.stderr}`).to.equal(0);
    return JSON.parse(r.stdout) as ProxyConfig;
  }

  /**
   * Waits until the stand-in runs exactly what `proxy config` prints (content), and checks that
   * the LDS and CDS versions ADS sent are the content hashes of the same resources.
   */
  async converged(what: string): Promise<LoadedConfig> {
    const want = await this.expected();
    const loaded = await this.agent!.waitFor(`${what}: the stand-in runs what proxy config prints`, (c) => isDeepStrictEqual(contentOf(c), contentOf(want)));
    expect(loaded.versions.LDS, 'LDS version = hash of the listeners').to.equal(contentVersion(want.listeners as Json[]));
    expect(loaded.versions.CDS, 'CDS version = hash of the clusters').to.equal(contentVersion(want.clusters as Json[]));
    if (want.routeConfigurations.length > 0) expect(loaded.versions.RDS, 'RDS version = hash of the route configurations').to.equal(contentVersion(want.routeConfigurations as Json[]));
    return loaded;
  }

  async curl(url: string, head = true): Promise<CurlResult> {
    const u = new URL(url);
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    return curlIn(this.rig!, [...(head ? ['-I'] : []), ...(u.protocol === 'https:' ? ['-k'] : []), '--resolve', `${u.hostname}:${port}:${EXT}`, url]);
  }

  get log(): string {
    return `--- agent ---\n${this.agent?.describe() ?? ''}\n--- stand-in log ---\n${this.standin?.log ?? ''}\n--- meshgate serve stderr ---\n${this.server?.stderr() ?? ''}`;
  }
}

const statusLine = (r: CurlResult) => r.statusLine ?? `(curl exit ${r.code})`;

for (const p of PROFILES) {
  describe(`seed ${p.seed} replayed live over ADS from meshgate serve --kubeconfig, ${p.name} profile`, function () {
    this.timeout(60_000);
    before(assertRoot);

    let demo: AdsSeedDemo | undefined;
    before(async () => {
      demo = new AdsSeedDemo(p.name);
      await demo.start();
    });
    after(async () => demo?.destroy());
    afterEach(function () {
      if (this.currentTest?.state === 'failed' && demo) console.log(demo.log);
    });
    const d = () => demo!;

    it('1. no policy: the agent receives an empty LDS (no listener in the stand-in), curl exits 7', async () => {
      const loaded = await d().converged('no policy');
      expect(loaded.listeners).to.deep.equal([]);
      const lds = d().agent!.responses.filter((r) => r.typeUrl === LDS);
      expect(lds, 'an LDS response').to.have.length.greaterThan(0);
      expect(lds[0]!.resources).to.deep.equal([]);
      expect((await d().curl(GET)).code).to.equal(7);
    });

    it('identity comes from the token: meshgate reviewed it (TokenReview, audience meshgate); another ServiceAccount\'s token claiming the same node gets its own config; no token or a token for another audience: UNAUTHENTICATED', async () => {
      const reviews = d().api!.tokenReviewRequests().map((r) => r.body as { spec: { token: string; audiences?: string[] } });
      expect(reviews.some((b) => b.spec.token === d().token && isDeepStrictEqual(b.spec.audiences, ['meshgate'])), 'a TokenReview of the curl token for audience meshgate').to.equal(true);
      const noToken = d().otherAgent(undefined);
      expect((await noToken.ended).code).to.equal(grpcStatus.UNAUTHENTICATED);
      const wrongAudience = d().otherAgent(d().api!.issueToken({ namespace: 'curl', name: 'curl', audiences: ['https://kubernetes.default.svc.cluster.local'] }));
      expect((await wrongAudience.ended).code).to.equal(grpcStatus.UNAUTHENTICATED);
    });

    it('2. httpbin-80 created through the API: after the push, HTTP/1.1 200 from httpbin.org', async () => {
      const before = d().agent!.loaded!.versions.LDS;
      await d().create('httpbin-80.yaml');
      const loaded = await d().converged('httpbin-80 created');
      expect(loaded.versions.LDS).to.not.equal(before);
      expect(loaded.listeners).to.have.length(1);
      expect(d().agent!.routeSubscription).to.deep.equal(['egress-http-80']);
      expect(statusLine(await d().curl(GET))).to.match(/^HTTP\/1\.1 200\b/);
      const get = await d().curl(GET, false);
      expect(JSON.parse(get.body)).to.include({ local: `${EXT}:80`, path: '/get', host: 'httpbin.org', method: 'GET' });

      // Another ServiceAccount's token, with a node that claims to be curl.curl: the config of curl/other (no policy), not curl/curl's.
      const other = d().otherAgent(d().api!.issueToken({ namespace: 'curl', name: 'other', audiences: ['meshgate'] }));
      const theirs = await other.waitFor('curl/other\'s config', (c) => c.versions.LDS !== undefined && c.versions.CDS !== undefined);
      expect(theirs.listeners).to.deep.equal([]);
      expect(theirs.versions.LDS).to.not.equal(loaded.versions.LDS);
      other.close();
    });

    it('3. httpbin-80 deleted through the API: exit 7 again', async () => {
      await d().delete('httpbin-80.yaml');
      const loaded = await d().converged('httpbin-80 deleted');
      expect(loaded.listeners).to.deep.equal([]);
      expect(d().agent!.routeSubscription).to.deep.equal([]);
      expect((await d().curl(GET)).code).to.equal(7);
    });

    it('4. httpbin-443 created: https 200 through the TLS passthrough; deleted: exit 7', async () => {
      expect((await d().curl(HTTPS)).code).to.equal(7);
      await d().create('httpbin-443.yaml');
      await d().converged('httpbin-443 created');
      const get = await d().curl(HTTPS, false);
      expect(get.status, statusLine(get)).to.equal(200);
      expect(get.body.trim()).to.equal(`tls local=${EXT}:443 sni=httpbin.org path=/get`);
      await d().delete('httpbin-443.yaml');
      await d().converged('httpbin-443 deleted');
      expect((await d().curl(HTTPS)).code).to.equal(7);
    });

    it(`5. route group /get + httpbin-80 created: /get 200, /status/200 ${p.unmatched}; the route group patched (/status.*): /status/200 200`, async () => {
      expect((await d().curl(GET)).code).to.equal(7);
      await d().create('httpbin-80-route-matches.yaml');
      await d().converged('route group + httpbin-80 created');
      expect(statusLine(await d().curl(GET))).to.match(/^HTTP\/1\.1 200\b/);
      expect(statusLine(await d().curl(STATUS))).to.match(new RegExp(`^HTTP/1\\.1 ${p.unmatched}\\b`));

      const rdsBefore = d().agent!.loaded!.versions.RDS;
      await d().patch('egress-http-route-status.yaml');
      const loaded = await d().converged('route group patched');
      expect(loaded.versions.RDS, 'a new RDS version').to.not.equal(rdsBefore);
      expect(statusLine(await d().curl(STATUS))).to.match(/^HTTP\/1\.1 200\b/);
      expect(statusLine(await d().curl(GET))).to.match(/^HTTP\/1\.1 200\b/);
    });

    it('every push was loaded by the stand-in and acknowledged: no refusal', () => {
      const refused = d().agent!.history.filter((h) => h.kind === 'refused');
      expect(refused, d().agent!.describe()).to.deep.equal([]);
    });
  });
}
