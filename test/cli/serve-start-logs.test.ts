import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { resourceName, watchedResources } from '../../src/cluster/watched-resources.js';
import { resolveProfile } from '../../src/profile.js';
import type { KubeObj } from '../support/fake-apiserver.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { egressObject } from '../support/admission-fixtures.js';
import { eventually } from '../support/fake-apiserver/wait.js';
import { MESHGATE_BIN, startServe, type ServeProcess } from '../support/run-cli.js';
import { testCertificates } from '../webhook/server-harness.js';

/**
 * What `meshgate serve` (the built bin/meshgate) says at start-up is true: "cluster state synced"
 * comes only once every informer has listed, with the counts of what the cluster holds; the
 * start line's `try:` hint is a command that works for each certificate source — run here as
 * printed (kubectl against the fake API server for --cert-secret, curl for all).
 */

const exec = promisify(execFile);
const RESOURCES = watchedResources(resolveProfile('osm')).map(resourceName);

interface LogLine {
  msg: string;
  counts?: Record<string, number>;
  informers?: Array<{ resource: string; phase: string }>;
}

const logLines = (p: ServeProcess): LogLine[] =>
  p
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

/** The shell command after "try: " on the start line. */
const tryHint = (p: ServeProcess): string => /— try: ([^\n]+)\n/.exec(p.stderr())![1]!;

describe('meshgate serve: start-up logs say what is true (process, fake API server)', function () {
  this.timeout(60_000);
  let api: FakeApiServer;
  let dir: string;
  let kubeconfig: string;
  let proc: ServeProcess | undefined;

  before(async () => {
    if (!existsSync(resolve(MESHGATE_BIN, '../../dist/src/cli/main.js'))) throw new Error('bin/meshgate is not built: run `npm run build` first');
    dir = await mkdtemp(join(tmpdir(), 'meshgate-serve-logs-'));
    api = await FakeApiServer.start();
    for (const name of ['osm-system', 'curl', 'payments']) api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    api.create({
      apiVersion: 'config.openservicemesh.io/v1alpha2',
      kind: 'MeshConfig',
      metadata: { name: 'osm-mesh-config', namespace: 'osm-system' },
      spec: { traffic: { enableEgress: false }, featureFlags: { enableEgressPolicy: true } },
    });
    api.create({
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: { name: 'egress-http-route', namespace: 'curl' },
      spec: { matches: [{ name: 'get', pathRegex: '/get', methods: ['GET'] }] },
    });
    api.create(egressObject() as unknown as KubeObj);
    api.create(egressObject({ name: 'httpbin-443', namespace: 'payments' }) as unknown as KubeObj);
    kubeconfig = await api.kubeconfig({ dir });
  });

  afterEach(async () => {
    api.releaseRequests();
    if (proc) await proc.stop('SIGTERM', 5_000);
    proc = undefined;
  });

  after(async () => {
    await api?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('"cluster state synced" is logged only once every informer has listed, with the real counts', async () => {
    // The Namespace list is held: every other informer lists and watches, and the state is not synced.
    api.holdRequests({ verb: 'list', resource: '/namespaces' });
    const certs = await testCertificates(0);
    await writeFile(join(dir, 'tls.crt'), certs.cert);
    await writeFile(join(dir, 'tls.key'), certs.key);
    proc = await startServe(['--kubeconfig', kubeconfig, '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--port', '0', '--host', '127.0.0.1', '--xds-port', '0'], {
      hermetic: true,
    });
    const others = RESOURCES.filter((r) => r !== 'namespaces');
    await eventually(`${others.join(', ')} synced`, () => others.every((r) => logLines(proc!).some((l) => l.msg === `${r} synced`)), 20_000);
    expect(api.heldRequestCount).to.equal(1);
    expect(logLines(proc).map((l) => l.msg)).to.not.include('cluster state synced');
    // A namespace created while the list is held is in the list that answers.
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'late' } });

    api.releaseRequests();
    const synced = await eventually('"cluster state synced"', () => logLines(proc!).find((l) => l.msg === 'cluster state synced'), 20_000);
    expect(synced.counts).to.deep.equal({ Namespace: 4, MeshConfig: 1, HTTPRouteGroup: 1, Egress: 2, UpstreamTrafficSetting: 0 });
    expect(synced.informers!.map((i) => [i.resource, i.phase])).to.have.deep.members(RESOURCES.map((r) => [r, 'synced']));
    expect(logLines(proc).filter((l) => l.msg === 'cluster state synced')).to.have.length(1);
  });

  it('--cert-secret: the hint fetches the CA from the Secret with kubectl and curls the server with it, as printed', async () => {
    proc = await startServe(['--kubeconfig', kubeconfig, '--cert-secret', 'meshgate-webhook-tls', '--port', '0', '--host', '127.0.0.1', '--xds-port', '0'], { hermetic: true });
    const hint = tryHint(proc);
    expect(hint).to.not.include('undefined');
    expect(hint).to.include(`kubectl --kubeconfig ${kubeconfig} -n osm-system get secret meshgate-webhook-tls -o 'jsonpath={.data.ca\\.crt}' | base64 -d > meshgate-ca.crt`);
    const cwd = join(dir, 'cert-secret-hint');
    await mkdir(cwd, { recursive: true });
    // Run as a user would paste it (kubectl reaches the fake API server through the kubeconfig).
    const r = await exec('sh', ['-c', hint], { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd } });
    expect(r.stdout).to.match(/^(ok|not ready)/);
  });

  it('--tls-cert with ca.crt beside it (cert-manager\'s Secret): the hint curls with that ca.crt, as printed', async () => {
    const certs = await testCertificates(1);
    const mount = join(dir, 'mount');
    await mkdir(mount, { recursive: true });
    await writeFile(join(mount, 'tls.crt'), certs.cert);
    await writeFile(join(mount, 'tls.key'), certs.key);
    await writeFile(join(mount, 'ca.crt'), certs.caCert);
    proc = await startServe(['--state', resolve('examples/state'), '--tls-cert', join(mount, 'tls.crt'), '--tls-key', join(mount, 'tls.key'), '--port', '0', '--host', '127.0.0.1', '--xds-port', '0'], { hermetic: true });
    const hint = tryHint(proc);
    expect(hint).to.equal(`curl --cacert ${join(mount, 'ca.crt')} ${proc.url}/readyz`);
    const r = await exec('sh', ['-c', hint], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    expect(r.stdout).to.equal('ok\n');
  });

  it('--tls-cert without a ca.crt beside it: the hint says which CA to pass, never "undefined"', async () => {
    const certs = await testCertificates(0);
    const alone = join(dir, 'alone');
    await mkdir(alone, { recursive: true });
    await writeFile(join(alone, 'server.pem'), certs.cert);
    await writeFile(join(alone, 'server-key.pem'), certs.key);
    proc = await startServe(['--state', resolve('examples/state'), '--tls-cert', join(alone, 'server.pem'), '--tls-key', join(alone, 'server-key.pem'), '--port', '0', '--host', '127.0.0.1', '--xds-port', '0'], {
      hermetic: true,
    });
    expect(tryHint(proc)).to.equal(`curl --cacert CA.crt ${proc.url}/readyz (CA.crt: the CA that issued ${join(alone, 'server.pem')})`);
  });
});
