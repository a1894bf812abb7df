import { expect } from 'chai';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { parseProxyConfig } from '../../src/egress/proxy-config-schema.js';
import type { ProxyConfig } from '../../src/egress/proxy-config.js';
import { runCli } from '../support/run-cli.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const EXAMPLE_STATE = join(ROOT, 'examples/state');
const POLICIES = join(ROOT, 'examples/policies/osm');

async function stateWith(policies: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshgate-proxy-config-'));
  for (const f of ['namespace-curl.yaml', 'egress-http-route.yaml', 'osm-mesh-config.yaml']) await copyFile(join(EXAMPLE_STATE, f), join(dir, f));
  for (const p of policies) await copyFile(join(POLICIES, p), join(dir, p));
  return dir;
}

describe('meshgate proxy config (bin/meshgate, --state)', function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  const state = async (policies: string[]) => {
    const d = await stateWith(policies);
    dirs.push(d);
    return d;
  };
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const proxyConfig = (...args: string[]) => runCli(['proxy', 'config', ...args], { hermetic: true });

  it('no policy and egress closed: no listener, nothing else', async () => {
    const r = await proxyConfig('--for', 'curl/curl', '--state', EXAMPLE_STATE);
    expect(r.code, r.stderr).to.equal(0);
    const config = JSON.parse(r.stdout) as ProxyConfig;
    expect(Object.keys(config)).to.have.members(['version', 'listeners', 'routeConfigurations', 'clusters']);
    expect(config.listeners).to.deep.equal([]);
    expect(config.version).to.be.a('string').and.not.equal('');
  });

  it('the httpbin-80 Egress: the outbound listener, route configuration egress-http-80 and a LOGICAL_DNS cluster, within the contract', async () => {
    const dir = await state(['httpbin-80.yaml']);
    const r = await proxyConfig('--for', 'curl/curl', '--state', dir);
    expect(r.code, r.stderr).to.equal(0);
    const config = JSON.parse(r.stdout) as ProxyConfig;
    // The interpreter's strict parse is the contract: unknown fields, dangling references and duplicate matches fail it.
    const parsed = parseProxyConfig(config);
    expect(parsed.listener?.name).to.equal('outbound-listener');
    expect(parsed.listener?.address.socket_address.port_value).to.equal(15001);
    expect(parsed.listener?.filter_chains?.some((c) => c.filter_chain_match?.destination_port === 80)).to.equal(true);
    expect([...parsed.routeConfigurations.keys()]).to.include('egress-http-80');
    const cluster = parsed.clusters.get('httpbin.org:80');
    expect(cluster?.type).to.equal('LOGICAL_DNS');
    for (const l of config.listeners) expect((l as { '@type': string })['@type']).to.equal('type.googleapis.com/envoy.config.listener.v3.Listener');
  });

  it('-o yaml prints the same config; the version is stable and follows the content', async () => {
    const dir = await state(['httpbin-80.yaml', 'httpbin-443.yaml']);
    const json = await proxyConfig('--for', 'curl/curl', '--state', dir);
    const again = await proxyConfig('--for', 'curl/curl', '--state', dir);
    const yaml = await proxyConfig('--for', 'curl/curl', '--state', dir, '-o', 'yaml');
    expect(yaml.code, yaml.stderr).to.equal(0);
    expect(parse(yaml.stdout)).to.deep.equal(JSON.parse(json.stdout));
    expect(again.stdout).to.equal(json.stdout);
    const other = await proxyConfig('--for', 'curl/curl', '--state', await state(['httpbin-80.yaml']));
    expect((JSON.parse(other.stdout) as ProxyConfig).version).to.not.equal((JSON.parse(json.stdout) as ProxyConfig).version);
  });

  it('a ServiceAccount no policy selects gets no listener', async () => {
    const dir = await state(['httpbin-80.yaml']);
    const r = await proxyConfig('--for', 'curl/other', '--state', dir);
    expect(r.code, r.stderr).to.equal(0);
    expect((JSON.parse(r.stdout) as ProxyConfig).listeners).to.deep.equal([]);
  });

  it('bad input: one line on stderr, exit 2', async () => {
    const usage = async (args: string[], re: RegExp) => {
      const r = await proxyConfig(...args);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.match(re);
      expect(r.stderr).to.not.match(/\n\s+at /);
    };
    await usage(['--for', 'curl', '--state', EXAMPLE_STATE], /^meshgate: --for "curl": give the ServiceAccount as NAMESPACE\/NAME/);
    await usage(['--for', 'curl/Curl', '--state', EXAMPLE_STATE], /ServiceAccount name "Curl" is invalid/);
    await usage(['--for', 'curl/curl', '--state', '/nonexistent/meshgate-state'], /^meshgate: --state \/nonexistent\/meshgate-state: /);
    await usage(['--state', EXAMPLE_STATE], /required option '--for <NS\/SA>' not specified/);
    await usage(['--for', 'curl/curl', '--state', EXAMPLE_STATE, '-o', 'xml'], /argument 'xml' is invalid/);
    const broken = await mkdtemp(join(tmpdir(), 'meshgate-proxy-config-bad-'));
    dirs.push(broken);
    await writeFile(join(broken, 'bad.yaml'), 'kind: [unclosed\n');
    await usage(['--for', 'curl/curl', '--state', broken], /^meshgate: --state .*bad\.yaml: invalid YAML/);
  });
});
