/**
 * The seeds' egress demos replayed through the kernel: seed 004 (OSM's egress policy demo) with the
 * osm profile and seed 002 (FSM's) with the fsm profile, step by step, with their documented
 * results.
 *
 * Each step is a cluster state: the enrolled `curl` namespace, the MeshConfig with egress closed
 * (`traffic.enableEgress: false`, Egress policies on) and the policies the demo has applied so far
 * (examples/policies/<profile>/, "kubectl apply" and "kubectl delete" semantics), written to a
 * fresh `--state` directory. The real CLI (`bin/meshgate proxy config --for curl/curl`) prints what
 * the curl ServiceAccount's sidecar enforces; the stand-in Envoy loads exactly that (started once,
 * then reloaded at each step: the live change). Real curl then runs in the pod namespace as the
 * app UID through the interception rules of the injected `<prefix>-init` container (from a real
 * injection of the seeds' curl pod), so every result below comes from traffic. Finally
 * `bin/meshgate egress check` is asked about the same request and must agree with what curl saw.
 *
 * curl dials the external namespace's addresses (`--resolve`, the pod's DNS); the stand-in has its
 * own hosts file (the proxy's DNS) and must resolve httpbin.org itself. Needs root (CI runs as root).
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import type { KubeObject } from '../../src/manifests/types.js';
import { resolveProfile, type ProfileName } from '../../src/profile.js';
import { DEFAULT_SETTINGS, type MeshgateSettings } from '../../src/settings.js';
import { EnvoyStandin, type ProxyConfig } from '../support/netns/envoy-standin.js';
import { injectedInitCommand } from '../support/netns/injection.js';
import { ADDR, NetnsRig, assertRoot } from '../support/netns/rig.js';
import { curlIn, startUpstreams, timedClient, type CurlResult, type TimedClientResult, type Upstreams } from '../support/netns/upstreams.js';
import { runCli } from '../support/run-cli.js';
import { demoBaseState } from '../support/netns/demo-state.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** The server-first Egress (not one of the seeds' files): test/support/netns/policies/<profile>/. */
const MYSQL_3306 = (p: ProfileName) => join(ROOT, 'test/support/netns/policies', p, 'mysql-3306.yaml');

/** The pod and service CIDRs: given to the injection and to the CLI alike, as `meshgate serve` would have them. */
const CLUSTER_CIDRS = [ADDR.v4.clusterCIDR, ADDR.v6.clusterCIDR];
const SETTINGS: MeshgateSettings = { ...DEFAULT_SETTINGS, clusterCIDRs: CLUSTER_CIDRS, iptablesBackend: 'auto' };

const EXT = ADDR.v4.external; // httpbin.org, for the pod's DNS and the proxy's alike
const OTHER = ADDR.v4.included; // the seeds' second TLS site (openservicemesh.io / flomesh.io), intercepted
/** The proxy's DNS: only httpbin.org. tcp passes to the original destination and needs no name. */
const PROXY_HOSTS = { 'httpbin.org': EXT };
/** Long, so a server-first banner that arrives within the client's read timeout proves the inspectors were off. */
const LISTENER_FILTERS_TIMEOUT_S = 30;
const BANNER_READ_S = 5;

const PROFILES = [
  { name: 'osm', seed: '004 (OSM egress policy demo)', otherTls: 'openservicemesh.io', unmatched: 404 },
  { name: 'fsm', seed: '002 (FSM egress policy demo)', otherTls: 'flomesh.io', unmatched: 403 },
] as const;

interface CheckJson {
  allowed: boolean;
  outcome: string;
  policy: string | null;
  reason: string;
}

/** What the app saw, in `egress check`'s vocabulary. */
function outcomeOfCurl(scheme: string, r: CurlResult): string {
  if (r.code === 7) return 'refused';
  if ((scheme === 'http' && r.code === 56) || (scheme === 'https' && r.code === 35)) return 'reset';
  if (r.code === 0 && r.status === 200) return 'allowed';
  if (r.code === 0 && r.status === 404) return 'http-404';
  if (r.code === 0 && r.status === 403) return 'http-403';
  return `unexpected: curl exit ${r.code}, status ${r.status ?? '-'}`;
}

function outcomeOfBanner(r: TimedClientResult): string {
  if (!r.ok && r.error === 'ECONNREFUSED') return 'refused';
  if (r.ok && r.reply.startsWith('banner ')) return 'allowed';
  return `unexpected: ${JSON.stringify(r)}`;
}

function parseYaml(text: string, source: string): KubeObject[] {
  return parseAllDocuments(text).flatMap((d) => {
    if (d.errors.length) throw new Error(`${source}: ${d.errors[0]!.message}`);
    const o = d.toJS() as KubeObject | null;
    return o ? [o] : [];
  });
}

const keyOf = (o: KubeObject) => `${o.apiVersion.split('/')[0]}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** The cluster before the demo: the enrolled curl namespace and the MeshConfig with egress closed. */
function baseState(p: ProfileName): KubeObject[] {
  if (p === 'osm') {
    // The example state as the OSM demo leaves it (without the route group, which the demo applies later).
    return ['namespace-curl.yaml', 'osm-mesh-config.yaml'].flatMap((f) => {
      const file = join(ROOT, 'examples/state', f);
      return parseYaml(readFileSync(file, 'utf8'), file);
    });
  }
  return demoBaseState(p);
}

interface Exchange {
  curl: CurlResult;
  check: CheckJson;
}

/** One profile's demo: the rig, the upstreams, the stand-in and the cluster state as the demo changes it. */
class SeedDemo {
  private readonly objects = new Map<string, KubeObject>();
  private step = 0;
  private dir: string | undefined;
  private standin: EnvoyStandin | undefined;
  private upstreams: Upstreams | undefined;
  private rig: NetnsRig | undefined;
  /** Holds one --state directory per step. */
  private tmp: string | undefined;

  constructor(readonly profile: ProfileName) {
    for (const o of baseState(profile)) this.objects.set(keyOf(o), o);
  }

  /** Namespaces, upstreams (80, 443, 3306 in the external namespace) and the injected init container's rules. */
  async start(): Promise<void> {
    this.tmp = mkdtempSync(join(tmpdir(), 'mg-seed-demo-'));
    this.rig = await NetnsRig.create({ extPorts: [8080] });
    this.upstreams = await startUpstreams(this.rig);
    const command = injectedInitCommand(this.profile, [...this.objects.values()], SETTINGS);
    const prefix = resolveProfile(this.profile).chainPrefix;
    expect(command[2], 'the injected script').to.include(`${prefix}PROXY_OUTBOUND`);
    const r = await this.rig.runCommand(command);
    expect(r.code, `injected ${resolveProfile(this.profile).initContainerName}:\n${r.stdout}\n${r.stderr}`).to.equal(0);
  }

  /** Everything, even after a failure half-way through start(). */
  async destroy(): Promise<void> {
    await this.standin?.stop().catch(() => undefined);
    await this.rig?.destroy();
    this.upstreams?.cleanup();
    if (this.tmp) rmSync(this.tmp, { recursive: true, force: true });
  }

  get log(): string {
    return this.standin?.log ?? '';
  }

  /** `kubectl apply -f FILE`: a seed policy file of this profile, or an absolute path. */
  apply(file: string): void {
    const path = file.startsWith('/') ? file : join(ROOT, 'examples/policies', this.profile, file);
    for (const o of parseYaml(readFileSync(path, 'utf8'), path)) this.objects.set(keyOf(o), o);
  }

  /** `kubectl delete egress NAME -n curl` (or another kind). */
  delete(name: string, kind = 'Egress'): void {
    const keys = [...this.objects.entries()].filter(([, o]) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === 'curl').map(([k]) => k);
    expect(keys, `${kind} curl/${name} to delete`).to.have.length(1);
    this.objects.delete(keys[0]!);
  }

  private cli(args: string[]) {
    return runCli(['--profile', this.profile, ...args, '--state', this.dir!, '--cluster-cidrs', CLUSTER_CIDRS.join(',')], { hermetic: true });
  }

  /**
   * Writes the state to a fresh --state directory, runs `meshgate proxy config --for curl/curl` and
   * loads its output into the stand-in (start, then reload: the live change).
   */
  async sync(): Promise<ProxyConfig> {
    this.step += 1;
    this.dir = join(this.tmp!, `step-${this.step}`);
    mkdirSync(this.dir);
    [...this.objects.values()].forEach((o, i) => writeFileSync(join(this.dir!, `${String(i).padStart(2, '0')}-${o.kind.toLowerCase()}-${o.metadata.name}.yaml`), stringify(o)));
    const r = await this.cli(['proxy', 'config', '--for', 'curl/curl', '-o', 'json']);
    expect(r.code, `proxy config: ${r.stderr}`).to.equal(0);
    expect(r.stderr, 'proxy config warnings').to.equal('');
    const config = JSON.parse(r.stdout) as ProxyConfig;
    if (!this.standin) {
      this.standin = await EnvoyStandin.start(this.rig!, config, PROXY_HOSTS, { listenerFiltersTimeoutS: LISTENER_FILTERS_TIMEOUT_S });
    } else {
      expect(await this.standin.reload(config), 'the stand-in loads what proxy config printed').to.deep.equal({ ok: true, version: config.version });
    }
    return config;
  }

  /** `meshgate egress check --from curl/curl --to URL [--ip IP] [--method M] -o json`. */
  async check(url: string, opts: { ip?: string; method?: string } = {}): Promise<CheckJson & { code: number | null }> {
    const r = await this.cli([
      'egress',
      'check',
      '--from',
      'curl/curl',
      '--to',
      url,
      ...(opts.ip ? ['--ip', opts.ip] : []),
      ...(opts.method ? ['--method', opts.method] : []),
      '-o',
      'json',
    ]);
    expect(r.code, `egress check ${url}: ${r.stderr}`).to.be.oneOf([0, 1]);
    return { ...(JSON.parse(r.stdout) as CheckJson), code: r.code };
  }

  /**
   * Real curl from the pod (`curl -sI URL`, or a GET with `head: false`), dialing `ip` for the
   * URL's host; then `egress check` for the same request, which must agree with what curl saw.
   */
  async request(url: string, opts: { ip?: string; head?: boolean; policy?: string } = {}): Promise<Exchange> {
    const u = new URL(url);
    const scheme = u.protocol.slice(0, -1);
    const port = u.port || (scheme === 'https' ? '443' : '80');
    const isName = !/^[0-9.]+$/.test(u.hostname);
    const ip = opts.ip ?? (isName ? EXT : undefined);
    const head = opts.head ?? true;
    const args = [...(head ? ['-I'] : []), ...(scheme === 'https' ? ['-k'] : []), ...(isName ? ['--resolve', `${u.hostname}:${port}:${ip}`] : []), url];
    const curl = await curlIn(this.rig!, args);
    const check = await this.check(url, { ...(isName ? { ip: ip! } : {}), ...(scheme === 'http' && head ? { method: 'HEAD' } : {}) });
    const seen = outcomeOfCurl(scheme, curl);
    const why = `curl ${args.join(' ')}: exit ${curl.code} ${curl.statusLine ?? ''}\n${curl.stderr}${curl.body}\negress check: ${JSON.stringify(check)}\n--- stand-in log ---\n${this.log}`;
    expect(check.outcome, `egress check agrees with curl\n${why}`).to.equal(seen);
    expect(check.allowed, why).to.equal(seen === 'allowed');
    expect(check.code, why).to.equal(seen === 'allowed' ? 0 : 1);
    if (opts.policy !== undefined) expect(check.policy, why).to.equal(opts.policy);
    return { curl, check };
  }

  /** A server-first client that sends nothing (reads BANNER_READ_S), and `egress check --to tcp://IP:3306`. */
  async banner(ip: string, policy?: string): Promise<{ reply: TimedClientResult; check: CheckJson }> {
    const reply = await timedClient(this.rig!, ip, 3306, BANNER_READ_S, 1);
    const check = await this.check(`tcp://${ip}:3306`);
    const seen = outcomeOfBanner(reply);
    const why = `client: ${JSON.stringify(reply)}\negress check: ${JSON.stringify(check)}\n--- stand-in log ---\n${this.log}`;
    expect(check.outcome, `egress check agrees with the client\n${why}`).to.equal(seen);
    expect(check.allowed, why).to.equal(seen === 'allowed');
    if (policy !== undefined) expect(check.policy, why).to.equal(policy);
    return { reply, check };
  }
}

const exit = (e: Exchange) => e.curl.code;
const statusLine = (e: Exchange) => e.curl.statusLine ?? `(curl exit ${e.curl.code})`;

for (const p of PROFILES) {
  describe(`seed ${p.seed} replayed through the kernel, ${p.name} profile`, function () {
    this.timeout(60_000);
    before(assertRoot);

    let demo: SeedDemo | undefined;
    before(async () => {
      demo = new SeedDemo(p.name);
      await demo.start();
    });
    after(async () => demo?.destroy());
    afterEach(function () {
      if (this.currentTest?.state === 'failed' && demo) console.log(`--- stand-in log (${p.name}) ---\n${demo.log}`);
    });
    const d = () => demo!;
    const GET = 'http://httpbin.org:80/get';
    const STATUS = 'http://httpbin.org:80/status/200';
    const HTTPS = 'https://httpbin.org:443/get';
    const OTHER_TLS = `https://${p.otherTls}:443`;

    describe('HTTP Egress', () => {
      it('1. no policy: curl -sI http://httpbin.org:80/get exits 7', async () => {
        await d().sync();
        expect(exit(await d().request(GET))).to.equal(7);
      });

      it('2. httpbin-80 applied: HTTP/1.1 200 from httpbin.org, resolved by the proxy', async () => {
        d().apply('httpbin-80.yaml');
        await d().sync();
        expect(statusLine(await d().request(GET, { policy: 'curl/httpbin-80' }))).to.match(/^HTTP\/1\.1 200\b/);
        const get = await d().request(GET, { head: false, policy: 'curl/httpbin-80' });
        expect(JSON.parse(get.curl.body)).to.include({ local: `${EXT}:80`, path: '/get', host: 'httpbin.org', method: 'GET' });
        expect(d().log).to.match(/cluster=httpbin\.org:80/);
      });

      it('3. httpbin-80 deleted: exit 7 again', async () => {
        d().delete('httpbin-80');
        await d().sync();
        expect(exit(await d().request(GET))).to.equal(7);
      });
    });

    describe('HTTPS Egress', () => {
      it('4a. no policy: curl -sI https://httpbin.org:443/get exits 7', async () => {
        expect(exit(await d().request(HTTPS))).to.equal(7);
      });

      it('4b. httpbin-443 applied: 200 through the TLS passthrough, routed on SNI httpbin.org', async () => {
        d().apply('httpbin-443.yaml');
        await d().sync();
        expect((await d().request(HTTPS, { policy: 'curl/httpbin-443' })).curl.status).to.equal(200);
        const get = await d().request(HTTPS, { head: false, policy: 'curl/httpbin-443' });
        expect(get.curl.body.trim()).to.equal(`tls local=${EXT}:443 sni=httpbin.org path=/get`);
      });

      it(`4c. another SNI on 443 (${p.otherTls}) is reset in the handshake: exit 35`, async () => {
        expect(exit(await d().request(OTHER_TLS, { ip: OTHER }))).to.equal(35);
      });

      it('4d. httpbin-443 deleted: exit 7', async () => {
        d().delete('httpbin-443');
        await d().sync();
        expect(exit(await d().request(HTTPS))).to.equal(7);
        expect(exit(await d().request(OTHER_TLS, { ip: OTHER }))).to.equal(7);
      });
    });

    describe('TCP Egress', () => {
      it(`5a. no policy: curl -sI ${OTHER_TLS} exits 7`, async () => {
        expect(exit(await d().request(OTHER_TLS, { ip: OTHER }))).to.equal(7);
      });

      it('5b. tcp-443 applied: any host on 443 (a name, an IP) gets 200 from its original destination', async () => {
        d().apply('tcp-443.yaml');
        await d().sync();
        expect((await d().request(OTHER_TLS, { ip: OTHER, policy: 'curl/tcp-443' })).curl.status).to.equal(200);
        const byName = await d().request(`${OTHER_TLS}/`, { ip: OTHER, head: false, policy: 'curl/tcp-443' });
        expect(byName.curl.body.trim()).to.equal(`tls local=${OTHER}:443 sni=${p.otherTls} path=/`);
        const byIp = await d().request(`https://${EXT}:443/`, { head: false, policy: 'curl/tcp-443' });
        expect(byIp.curl.status).to.equal(200);
        expect(byIp.curl.body.trim()).to.equal(`tls local=${EXT}:443 sni=- path=/`);
      });

      it('5c. tcp-443 deleted: exit 7', async () => {
        d().delete('tcp-443');
        await d().sync();
        expect(exit(await d().request(OTHER_TLS, { ip: OTHER }))).to.equal(7);
        expect(exit(await d().request(`https://${EXT}:443/`))).to.equal(7);
      });
    });

    describe('HTTP Egress with SMI route matches', () => {
      it('6a. no policy: /get and /status/200 exit 7', async () => {
        expect(exit(await d().request(GET))).to.equal(7);
        expect(exit(await d().request(STATUS))).to.equal(7);
      });

      it(`6b. route group /get + httpbin-80: /get 200, /status/200 ${p.unmatched}`, async () => {
        d().apply('httpbin-80-route-matches.yaml');
        await d().sync();
        expect(statusLine(await d().request(GET, { policy: 'curl/httpbin-80' }))).to.match(/^HTTP\/1\.1 200\b/);
        const status = await d().request(STATUS);
        expect(statusLine(status)).to.match(new RegExp(`^HTTP/1\\.1 ${p.unmatched}\\b`));
        const body = await d().request(STATUS, { head: false });
        expect(body.curl.body).to.equal(p.unmatched === 403 ? 'Access denied' : '');
      });

      it('6c. route group updated (/status.*): /status/200 200', async () => {
        d().apply('egress-http-route-status.yaml');
        await d().sync();
        expect(statusLine(await d().request(STATUS, { policy: 'curl/httpbin-80' }))).to.match(/^HTTP\/1\.1 200\b/);
        expect(statusLine(await d().request(GET, { policy: 'curl/httpbin-80' }))).to.match(/^HTTP\/1\.1 200\b/);
      });
    });

    // Mocha runs a suite's own tests before its child suites: every step sits in a describe, in order.
    describe('Unlisted hosts (beside the route-matched httpbin-80)', () => {
      it(`7. an unlisted host on port 80: ${p.unmatched === 403 ? '403 Access denied' : '404, empty body'}`, async () => {
        const r = await d().request('http://example.org:80/get', { head: false });
        expect(r.curl.status).to.equal(p.unmatched);
        expect(r.curl.body).to.equal(p.unmatched === 403 ? 'Access denied' : '');
      });
    });

    describe('Server-first TCP Egress', () => {
      it(`8. mysql-3306 (tcp-server-first) applied: a client that sends nothing gets the banner (listener filter timeout ${LISTENER_FILTERS_TIMEOUT_S} s, client reads ${BANNER_READ_S} s)`, async () => {
        d().apply(MYSQL_3306(p.name));
        await d().sync();
        // Had the inspectors run on 3306, they would hold the silent client for 30 s: no banner within 5 s.
        const { reply } = await d().banner(EXT, 'curl/mysql-3306');
        expect(reply.reply).to.equal(`banner local=${EXT}:3306\n`);
        // The inspectors still run on port 80 beside it.
        expect(statusLine(await d().request(GET, { policy: 'curl/httpbin-80' }))).to.match(/^HTTP\/1\.1 200\b/);
      });
    });

    describe('Back to no policy', () => {
      it('9. every policy and the route group deleted: no outbound listener, everything is refused (exit 7)', async () => {
        for (const name of ['httpbin-80', 'mysql-3306']) d().delete(name);
        d().delete('egress-http-route', 'HTTPRouteGroup');
        await d().sync();
        for (const url of [GET, HTTPS]) expect(exit(await d().request(url)), url).to.equal(7);
        expect(exit(await d().request(OTHER_TLS, { ip: OTHER })), OTHER_TLS).to.equal(7);
        expect((await d().banner(EXT)).reply).to.deep.equal({ ok: false, error: 'ECONNREFUSED' });
      });
    });
  });
}
