import { expect } from 'chai';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { egressObject } from '../support/admission-fixtures.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { runCli, type CliResult } from '../support/run-cli.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const EXAMPLE_STATE = join(ROOT, 'examples/state');
const POLICIES = join(ROOT, 'examples/policies/osm');

/** A --state directory: the example state (curl enrolled, egress closed, policies on) plus the named seed policies. */
async function stateWith(policies: string[], opts: { enableEgress?: boolean } = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshgate-check-'));
  for (const f of ['namespace-curl.yaml', 'egress-http-route.yaml']) await copyFile(join(EXAMPLE_STATE, f), join(dir, f));
  const mc = await readFile(join(EXAMPLE_STATE, 'osm-mesh-config.yaml'), 'utf8');
  await writeFile(join(dir, 'osm-mesh-config.yaml'), opts.enableEgress ? mc.replace('enableEgress: false', 'enableEgress: true') : mc);
  // Read in the order given, after the base state (the directory is read in name order): a later file's object replaces an earlier one's.
  for (const [i, p] of policies.entries()) await copyFile(join(POLICIES, p), join(dir, `z${i}-${p}`));
  return dir;
}

interface CheckJson {
  allowed: boolean;
  outcome: string;
  policy: string | null;
  reason: string;
}

describe('meshgate egress check (bin/meshgate, --state)', function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  const state = async (policies: string[], opts: { enableEgress?: boolean } = {}) => {
    const d = await stateWith(policies, opts);
    dirs.push(d);
    return d;
  };
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  const check = (dir: string, ...args: string[]) => runCli(['egress', 'check', '--from', 'curl/curl', '--state', dir, ...args], { hermetic: true });
  const checkJson = async (dir: string, ...args: string[]): Promise<CheckJson & { code: number | null }> => {
    const r = await check(dir, ...args, '-o', 'json');
    expect(r.stderr, r.stderr).to.not.match(/unexpected error/);
    const parsed = JSON.parse(r.stdout) as CheckJson;
    expect(Object.keys(parsed)).to.deep.equal(['allowed', 'outcome', 'policy', 'reason']);
    return { ...parsed, code: r.code };
  };

  describe('the seeds: only the httpbin-80 Egress for curl/curl, egress closed', () => {
    let dir: string;
    before(async () => {
      dir = await state(['httpbin-80.yaml']);
    });

    it('http://httpbin.org/get is allowed by curl/httpbin-80 (exit 0), text names policy and route', async () => {
      const r = await check(dir, '--to', 'http://httpbin.org/get');
      expect(r.code, r.stderr).to.equal(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines.length).to.be.within(1, 2);
      expect(lines[0]).to.match(/^allowed by Egress curl\/httpbin-80 \(route .+, cluster .+\)$/);
      expect(lines[1]).to.match(/^ {2}via listener .* -> filter chain .* -> virtual host .* -> route .* -> cluster .* -> httpbin\.org:80 /);
      const j = await checkJson(dir, '--to', 'http://httpbin.org/get');
      expect(j).to.deep.include({ code: 0, allowed: true, outcome: 'allowed', policy: 'curl/httpbin-80' });
    });

    it('http://example.org is a 404 (exit 1)', async () => {
      const j = await checkJson(dir, '--to', 'http://example.org');
      expect(j).to.deep.include({ code: 1, allowed: false, outcome: 'http-404', policy: null });
      expect(j.reason).to.match(/^404: no virtual host for "example.org" on port 80/);
    });

    it('a forged Host header does not reach httpbin.org', async () => {
      const j = await checkJson(dir, '--to', 'http://httpbin.org/get', '--header', 'Host: evil.example');
      expect(j).to.deep.include({ code: 1, outcome: 'http-404' });
    });

    it('https://httpbin.org is reset (no chain on 443; curl 35)', async () => {
      const j = await checkJson(dir, '--to', 'https://httpbin.org');
      expect(j).to.deep.include({ code: 1, allowed: false, outcome: 'reset', policy: null });
      expect(j.reason).to.match(/^reset: .*port 443.*curl exits 35/);
    });

    it('a plain tcp connection to port 80 is reset', async () => {
      const j = await checkJson(dir, '--to', 'tcp://93.184.215.14:80');
      expect(j).to.deep.include({ code: 1, outcome: 'reset' });
    });

    it('another ServiceAccount has no policy: refused (no outbound listener; curl 7)', async () => {
      const r = await runCli(['egress', 'check', '--from', 'curl/other', '--to', 'http://httpbin.org/get', '--state', dir, '-o', 'json'], { hermetic: true });
      expect(r.code).to.equal(1);
      expect(JSON.parse(r.stdout)).to.deep.include({ allowed: false, outcome: 'refused', policy: null });
    });
  });

  it('no policy at all: refused, and the text says why', async () => {
    const r = await runCli(['egress', 'check', '--from', 'curl/curl', '--to', 'http://httpbin.org/get', '--state', EXAMPLE_STATE], { hermetic: true });
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('refused: no Egress policy allows anything for curl/curl and egress is closed (no outbound listener; curl exits 7)\n');
  });

  it('route matches: /get is allowed, /status/200 is a 404', async () => {
    const dir = await state(['httpbin-80-route-matches.yaml']);
    expect(await checkJson(dir, '--to', 'http://httpbin.org/get')).to.deep.include({ code: 0, policy: 'curl/httpbin-80' });
    expect(await checkJson(dir, '--to', 'http://httpbin.org/get?x=1')).to.deep.include({ code: 0 });
    expect(await checkJson(dir, '--to', 'http://httpbin.org//get')).to.deep.include({ code: 0 });
    expect(await checkJson(dir, '--to', 'http://httpbin.org/get/x')).to.deep.include({ code: 1, outcome: 'http-404' });
    expect(await checkJson(dir, '--to', 'http://httpbin.org/status/200')).to.deep.include({ code: 1, outcome: 'http-404' });
  });

  it('route matches after the route group is updated: /status/200 is allowed too', async () => {
    const dir = await state(['httpbin-80-route-matches.yaml', 'egress-http-route-status.yaml']);
    expect(await checkJson(dir, '--to', 'http://httpbin.org/status/200')).to.deep.include({ code: 0, policy: 'curl/httpbin-80' });
    expect(await checkJson(dir, '--to', 'http://httpbin.org/post')).to.deep.include({ code: 1, outcome: 'http-404' });
  });

  it('https: httpbin-443 allows SNI httpbin.org only', async () => {
    const dir = await state(['httpbin-443.yaml']);
    expect(await checkJson(dir, '--to', 'https://httpbin.org')).to.deep.include({ code: 0, outcome: 'allowed', policy: 'curl/httpbin-443' });
    expect(await checkJson(dir, '--to', 'https://HTTPBIN.org/anything')).to.deep.include({ code: 0, policy: 'curl/httpbin-443' });
    expect(await checkJson(dir, '--to', 'https://example.com')).to.deep.include({ code: 1, outcome: 'reset' });
    expect(await checkJson(dir, '--to', 'http://httpbin.org')).to.deep.include({ code: 1, outcome: 'reset' });
  });

  it('tcp-443 allows anything on port 443; beside httpbin-443 the SNI match still names httpbin-443', async () => {
    const dir = await state(['tcp-443.yaml']);
    expect(await checkJson(dir, '--to', 'tcp://203.0.113.7:443')).to.deep.include({ code: 0, policy: 'curl/tcp-443' });
    expect(await checkJson(dir, '--to', 'https://example.com')).to.deep.include({ code: 0, policy: 'curl/tcp-443' });
    expect(await checkJson(dir, '--to', 'tcp://db.example.com:5432')).to.deep.include({ code: 1, outcome: 'reset' });
    const both = await state(['tcp-443.yaml', 'httpbin-443.yaml']);
    expect(await checkJson(both, '--to', 'https://httpbin.org')).to.deep.include({ code: 0, policy: 'curl/httpbin-443' });
    expect(await checkJson(both, '--to', 'https://example.com')).to.deep.include({ code: 0, policy: 'curl/tcp-443' });
  });

  it('egress open (traffic.enableEgress: true): unmatched destinations pass through with no policy', async () => {
    const dir = await state([], { enableEgress: true });
    const j = await checkJson(dir, '--to', 'tcp://203.0.113.7:5432');
    expect(j).to.deep.include({ code: 0, allowed: true, outcome: 'allowed', policy: null });
    expect(j.reason).to.match(/passthrough/);
  });

  it('fsm profile: an unlisted host gets 403 Access denied', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshgate-check-fsm-'));
    dirs.push(dir);
    await copyFile(join(ROOT, 'examples/policies/fsm/httpbin-80.yaml'), join(dir, 'httpbin-80.yaml'));
    await writeFile(
      join(dir, 'state.yaml'),
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: curl, labels: {flomesh.io/monitored-by: fsm}}\n---\n' +
        'apiVersion: config.flomesh.io/v1alpha3\nkind: MeshConfig\nmetadata: {name: fsm-mesh-config, namespace: fsm-system}\n' +
        'spec: {traffic: {enableEgress: false}, featureFlags: {enableEgressPolicy: true}}\n',
    );
    const run = (to: string) => runCli(['--profile', 'fsm', 'egress', 'check', '--from', 'curl/curl', '--to', to, '--state', dir, '-o', 'json'], { hermetic: true });
    const denied = await run('http://example.org/');
    expect(denied.code, denied.stderr).to.equal(1);
    expect(JSON.parse(denied.stdout)).to.deep.include({ allowed: false, outcome: 'http-403', policy: null });
    const allowed = await run('http://httpbin.org/get');
    expect(JSON.parse(allowed.stdout)).to.deep.include({ allowed: true, policy: 'curl/httpbin-80' });
  });

  describe('bad input: one line on stderr naming the input and the fix, exit 2', () => {
    let dir: string;
    before(async () => {
      dir = await state(['httpbin-80.yaml']);
    });
    const expectUsage = (r: CliResult, re: RegExp) => {
      expect(r.code, r.stdout + r.stderr).to.equal(2);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.match(re);
      expect(r.stderr.trimEnd().split('\n')).to.have.length(1);
      expect(r.stderr).to.not.match(/\n\s+at /);
    };

    it('unknown scheme, malformed URL, tcp:// without a port, bad port', async () => {
      expectUsage(await check(dir, '--to', 'ftp://files.example.com/x'), /^meshgate: --to "ftp:\/\/files.example.com\/x": unknown scheme "ftp": use http:\/\/.*tcp:\/\//);
      expectUsage(await check(dir, '--to', 'httpbin.org'), /^meshgate: --to "httpbin.org": not a URL: use http:\/\//);
      expectUsage(await check(dir, '--to', 'http://exa mple.org/'), /^meshgate: --to "http:\/\/exa mple.org\/": malformed URL/);
      expectUsage(await check(dir, '--to', 'tcp://db.example.com'), /tcp:\/\/ needs a port, e.g. tcp:\/\/db.example.com:5432/);
      expectUsage(await check(dir, '--to', 'tcp://db.example.com:0'), /the port must be 1-65535/);
      expectUsage(await check(dir, '--to', 'tcp://db_1.example.com:5432'), /host "db_1.example.com" is neither an IP address nor a DNS name/);
    });

    it('--from without a slash or with invalid names', async () => {
      const from = (v: string) => runCli(['egress', 'check', '--from', v, '--to', 'http://httpbin.org/', '--state', dir], { hermetic: true });
      expectUsage(await from('curl'), /^meshgate: --from "curl": give the ServiceAccount as NAMESPACE\/NAME, e.g. --from curl\/curl$/m);
      expectUsage(await from('curl/a/b'), /NAMESPACE\/NAME/);
      expectUsage(await from('Curl/curl'), /^meshgate: --from "Curl\/curl": namespace "Curl" is invalid: a lowercase RFC 1123 label/);
      expectUsage(await from('curl/-x'), /ServiceAccount name "-x" is invalid/);
    });

    it('--header without a colon, bad --ip, bad --method', async () => {
      expectUsage(await check(dir, '--to', 'http://httpbin.org/', '--header', 'x-team'), /^meshgate: --header "x-team": use NAME:VALUE, e.g. --header x-team:payments$/m);
      expectUsage(await check(dir, '--to', 'http://httpbin.org/', '--ip', '999.1.1.1'), /^meshgate: --ip "999.1.1.1": not an IP address/);
      expectUsage(await check(dir, '--to', 'tcp://10.0.0.1:443', '--ip', '10.0.0.2'), /--ip 10.0.0.2: the URL already dials 10.0.0.1/);
      expectUsage(await check(dir, '--to', 'http://httpbin.org/', '--method', 'GE T'), /--method "GE T": not an HTTP method/);
    });

    it('unreadable state directory', async () => {
      const r = await runCli(['egress', 'check', '--from', 'curl/curl', '--to', 'http://httpbin.org/', '--state', '/nonexistent/meshgate-state'], { hermetic: true });
      expectUsage(r, /^meshgate: --state \/nonexistent\/meshgate-state: .*(no such file|not found|ENOENT)/i);
    });
  });

  it('reads the live cluster when there is no --state (the informers of meshgate serve, against the fake API server)', async () => {
    const api = await FakeApiServer.start();
    const dir = await mkdtemp(join(tmpdir(), 'meshgate-check-live-'));
    dirs.push(dir);
    try {
      api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'osm-system' } });
      api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'curl', labels: { 'openservicemesh.io/monitored-by': 'osm' } } });
      api.create({
        apiVersion: 'config.openservicemesh.io/v1alpha2',
        kind: 'MeshConfig',
        metadata: { name: 'osm-mesh-config', namespace: 'osm-system' },
        spec: { traffic: { enableEgress: false }, featureFlags: { enableEgressPolicy: true } },
      });
      api.create(egressObject());
      const kubeconfig = await api.kubeconfig({ dir });
      const r = await runCli(['egress', 'check', '--from', 'curl/curl', '--to', 'http://httpbin.org/get', '--kubeconfig', kubeconfig, '-o', 'json'], { hermetic: true });
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(r.stdout)).to.deep.include({ allowed: true, policy: 'curl/httpbin-80' });
      const p = await runCli(['proxy', 'config', '--for', 'curl/curl', '--kubeconfig', kubeconfig], { hermetic: true });
      expect(p.code, p.stderr).to.equal(0);
      expect(JSON.parse(p.stdout).listeners).to.have.length(1);
    } finally {
      await api.close();
    }
  });
});
