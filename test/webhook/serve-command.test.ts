import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { UserError } from '../../src/cli/errors.js';
import { addSettingsOptions, settingsFrom } from '../../src/cli/settings-options.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import { AdmissionClient } from '../support/admission-client.js';
import { egressReview, podReview } from '../support/admission-fixtures.js';
import { runCli, startServe, type ServeProcess } from '../support/run-cli.js';
import { heldRequest, testCertificates } from './server-harness.js';

/** These run the compiled CLI (bin/meshgate → dist/): `npm test` builds first. */

function parseSettings(argv: string[], env: Record<string, string> = {}) {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  try {
    const cmd = addSettingsOptions(new Command('serve').exitOverride());
    cmd.parse(argv, { from: 'user' });
    return settingsFrom(cmd.opts());
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('meshgate serve: settings flags', () => {
  it('defaults to DEFAULT_SETTINGS', () => {
    expect(parseSettings([])).to.deep.equal(DEFAULT_SETTINGS);
  });

  it('reads every flag, canonicalizing CIDRs of both families', () => {
    const s = parseSettings([
      '--cluster-cidrs',
      '10.244.0.0/16, 10.96.0.0/12,FD00:0::/48',
      '--sidecar-mode',
      'Native',
      '--bypass-guard',
      'warn',
      '--iptables-backend',
      'legacy',
      '--sidecar-image',
      'registry.example/envoy:v1',
      '--init-image',
      'registry.example/init@sha256:abc',
    ]);
    expect(s).to.deep.include({
      clusterCIDRs: ['10.244.0.0/16', '10.96.0.0/12', 'fd00::/48'],
      sidecarMode: 'native',
      bypassGuard: 'warn',
      iptablesBackend: 'legacy',
      defaultSidecarImage: 'registry.example/envoy:v1',
      defaultInitImage: 'registry.example/init@sha256:abc',
    });
  });

  it('takes values from MESHGATE_* environment variables, flags winning', () => {
    const s = parseSettings(['--bypass-guard', 'off'], { MESHGATE_CLUSTER_CIDRS: '10.0.0.0/8', MESHGATE_BYPASS_GUARD: 'warn', MESHGATE_SIDECAR_MODE: 'native' });
    expect(s).to.deep.include({ clusterCIDRs: ['10.0.0.0/8'], bypassGuard: 'off', sidecarMode: 'native' });
  });

  it('rejects bad values with a UserError naming the flag, its variable and the allowed values', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--sidecar-mode', 'ambient'], /^--sidecar-mode \(MESHGATE_SIDECAR_MODE\): unknown value "ambient": use one of classic, native$/],
      [['--bypass-guard', 'yes'], /^--bypass-guard \(MESHGATE_BYPASS_GUARD\): .*deny, warn, off$/],
      [['--iptables-backend', 'ipfw'], /^--iptables-backend .*auto, nft, legacy$/],
      [['--cluster-cidrs', '10.0.0.0/8,10.0.0.300/8'], /^--cluster-cidrs \(MESHGATE_CLUSTER_CIDRS\): "10.0.0.300\/8" is not a CIDR/],
      [['--cluster-cidrs', '10.0.0.1'], /"10.0.0.1" is not a CIDR/],
      [['--sidecar-image', 'envoy proxy'], /^--sidecar-image \(MESHGATE_SIDECAR_IMAGE\): "envoy proxy" is not an image reference/],
    ];
    for (const [argv, re] of cases) {
      expect(() => parseSettings(argv), argv.join(' ')).to.throw(UserError, re);
    }
  });
});

describe('meshgate serve (the CLI, as a process)', function () {
  let dir: string;
  let stateDir: string;
  const procs: ServeProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshgate-serve-'));
    stateDir = join(dir, 'state');
    await runCli(['--version']); // fails fast with a clear message when dist/ is missing
    await import('node:fs/promises').then((fs) => fs.mkdir(stateDir));
    await writeFile(
      join(stateDir, 'namespaces.yaml'),
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: curl\n  labels:\n    openservicemesh.io/monitored-by: osm\n',
    );
  });
  afterEach(async () => {
    while (procs.length) await procs.pop()!.stop('SIGKILL');
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  async function serve(args: string[], cwd = dir): Promise<ServeProcess> {
    const p = await startServe(args, { cwd });
    procs.push(p);
    return p;
  }

  it('--dev --port 0: prints the URL and CA, serves verified HTTPS, and answers admission', async () => {
    const p = await serve(['--dev', '--state', stateDir, '--port', '0', '--host', '127.0.0.1']);
    expect(p.port).to.be.greaterThan(0);
    expect(p.caPath).to.equal('.dev-certs/ca.crt');
    expect(p.stderr()).to.include(`try: curl --cacert .dev-certs/ca.crt https://127.0.0.1:${p.port}/readyz`);
    const ca = await readFile(join(dir, p.caPath!), 'utf8');
    const leaf = new X509Certificate(await readFile(join(dir, '.dev-certs/tls.crt'), 'utf8'));
    expect(leaf.subjectAltName).to.include('DNS:meshgate.osm-system.svc').and.include('IP Address:127.0.0.1').and.include('DNS:localhost');
    expect(leaf.verify(new X509Certificate(ca).publicKey)).to.equal(true);

    const client = new AdmissionClient({ baseUrl: p.url, ca });
    try {
      expect((await client.raw('GET', '/readyz')).status).to.equal(200);
      expect((await client.review('validate', egressReview())).response.uid).to.be.a('string');
      expect((await client.review('mutate', podReview())).response.uid).to.be.a('string');
    } finally {
      client.close();
    }
    // JSON logs on stdout: the start line carries the settings. stdout is its own pipe: wait for the line.
    await p.waitFor(/"msg":"meshgate serving"/, { stream: 'stdout' });
    const start = p
      .stdout()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'meshgate serving');
    expect(start).to.include({ port: p.port, profile: 'osm' });
  });

  it('reuses the development certificate on restart, so a CA handed out keeps working', async () => {
    // The precondition, made here rather than left to whichever test ran before: a first run in a
    // directory of its own creates the development CA.
    const cwd = await mkdtemp(join(dir, 'restart-'));
    const first = await serve(['--dev', '--state', stateDir, '--port', '0', '--host', '127.0.0.1'], cwd);
    expect((await first.stop()).code).to.equal(0);
    const before = await readFile(join(cwd, '.dev-certs/ca.crt'), 'utf8');
    const p = await serve(['--dev', '--state', stateDir, '--port', '0', '--host', '127.0.0.1'], cwd);
    const after = await readFile(join(cwd, '.dev-certs/ca.crt'), 'utf8');
    expect(after).to.equal(before);
    await p.stop();
    const again = await serve(['--dev', '--state', stateDir, '--port', '0', '--host', '127.0.0.1'], cwd);
    expect(await readFile(join(cwd, '.dev-certs/ca.crt'), 'utf8')).to.equal(after);
    const client = new AdmissionClient({ baseUrl: again.url, ca: after });
    try {
      expect((await client.raw('GET', '/healthz')).status).to.equal(200);
    } finally {
      client.close();
    }
  });

  it('--tls-cert/--tls-key: serves that certificate', async () => {
    const certs = await testCertificates(1);
    await writeFile(join(dir, 'tls.crt'), certs.cert);
    await writeFile(join(dir, 'tls.key'), certs.key);
    const p = await serve(['--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--state', stateDir, '--port', '0', '--host', '127.0.0.1']);
    const client = new AdmissionClient({ baseUrl: p.url, ca: certs.caCert });
    try {
      expect((await client.raw('GET', '/readyz')).status).to.equal(200);
    } finally {
      client.close();
    }
  });

  it('SIGTERM: finishes the in-flight request, then exits 0', async () => {
    const p = await serve(['--dev', '--state', stateDir, '--port', '0', '--host', '127.0.0.1']);
    const ca = await readFile(join(dir, p.caPath!), 'utf8');
    const held = await heldRequest(p.port, ca);
    p.child.kill('SIGTERM');
    await p.waitFor(/"msg":"draining: readiness is now false"/, { stream: 'stdout' });
    const answer = await held.finish();
    expect(answer.status).to.equal(200);
    expect(answer.json.response.uid).to.equal(held.uid);
    const exit = await p.exited;
    expect(exit).to.deep.equal({ code: 0, signal: null });
    expect(p.stderr()).to.not.match(/\n\s+at /);
  });

  it('user errors are one line on stderr with a non-zero exit, never a stack trace', async () => {
    const certs = await testCertificates(0);
    const other = await testCertificates(1);
    await writeFile(join(dir, 'a.crt'), certs.cert);
    await writeFile(join(dir, 'b.key'), other.key);
    const cases: Array<[string[], RegExp]> = [
      [['--state', stateDir, '--port', '0'], /^meshgate: no TLS certificate: pass --tls-cert\/--tls-key, --cert-secret NAME \(in a cluster\) or --dev \(local development\)\n$/],
      [['--dev', '--state', stateDir, '--sidecar-mode', 'ambient'], /^meshgate: --sidecar-mode \(MESHGATE_SIDECAR_MODE\): unknown value "ambient": use one of classic, native\n$/],
      [['--dev', '--state', join(dir, 'missing'), '--port', '0'], /^meshgate: --state .*missing: /],
      [['--tls-cert', join(dir, 'a.crt'), '--state', stateDir], /^meshgate: --tls-key: missing: --tls-cert and --tls-key go together\n$/],
      [['--tls-cert', join(dir, 'a.crt'), '--tls-key', join(dir, 'nope.key'), '--state', stateDir], /^meshgate: --tls-key .*nope.key: cannot read: ENOENT\n$/],
      [['--tls-cert', join(dir, 'a.crt'), '--tls-key', join(dir, 'b.key'), '--state', stateDir], /^meshgate: --tls-cert .* \/ --tls-key .*: not a usable PEM certificate and key pair/],
      [['--dev', '--port', '0'], /^meshgate: cluster state: /],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(['serve', ...args], { cwd: dir })));
    for (const [i, [args, re]] of cases.entries()) {
      const r = results[i]!;
      expect(r.code, args.join(' ')).to.not.equal(0);
      expect(r.stderr, args.join(' ')).to.match(re);
      expect(r.stderr.trim().split('\n'), args.join(' ')).to.have.length(1);
    }
  });

  it('a port in use is a one-line error; SIGINT with nothing in flight exits 0', async () => {
    const p = await serve(['--dev', '--state', stateDir, '--port', '0', '--host', '127.0.0.1']);
    const r = await runCli(['serve', '--dev', '--state', stateDir, '--port', String(p.port), '--host', '127.0.0.1'], { cwd: dir });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^meshgate: --port \d+: address 127.0.0.1:\d+ is already in use: pick another --port\n$/);
    expect(await p.stop('SIGINT')).to.deep.equal({ code: 0, signal: null });
  });
});
