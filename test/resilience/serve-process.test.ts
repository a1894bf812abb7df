import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { applyPatch, type Operation as PatchOperation } from 'rfc6902';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AdmissionClient } from '../support/admission-client.js';
import { egressObject, egressReview, podObject, podReview } from '../support/admission-fixtures.js';
import { MESHGATE_BIN, startServe, type ServeProcess } from '../support/run-cli.js';
import { writeStateDir } from '../fuzz/fuzz-support.js';
import { expectCleanLoad, holdRequest, Load, openTls, sleep, slowLoris, type WatchedSocket } from './resilience-support.js';

/**
 * `meshgate serve` as a real process (bin/meshgate: build first) under continuous valid load on
 * both webhooks: a burst of malformed traffic in parallel leaves every valid request answered
 * right and the process up; SIGTERM turns readiness false first, lets requests in flight finish,
 * and exits 0.
 */

describe('resilience: meshgate serve as a process, under load', function () {
  this.timeout(90_000);
  let cwd: string;
  let stateDir: string;
  let proc: ServeProcess | undefined;
  let ca: string;
  const clients: AdmissionClient[] = [];
  const sockets: WatchedSocket[] = [];

  before(() => {
    if (!existsSync(resolve(MESHGATE_BIN, '../../dist/src/cli/main.js'))) throw new Error('bin/meshgate is not built: run `npm run build` first');
    cwd = mkdtempSync(join(tmpdir(), 'meshgate-resilience-'));
    stateDir = writeStateDir();
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const c of clients.splice(0)) c.close();
    if (proc) await proc.stop('SIGKILL', 5_000);
    proc = undefined;
  });

  after(() => {
    rmSync(cwd, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  async function serve(extra: string[] = []): Promise<ServeProcess> {
    proc = await startServe(['--dev', '--port', '0', '--host', '127.0.0.1', '--state', stateDir, '--log-level', 'warn', ...extra], { cwd });
    ca = readFileSync(join(cwd, proc.caPath!), 'utf8');
    return proc;
  }

  function client(keepAlive = true): AdmissionClient {
    const c = new AdmissionClient({ baseUrl: proc!.url.replace('localhost', '127.0.0.1'), ca, keepAlive });
    clients.push(c);
    return c;
  }

  it('a burst of malformed requests in parallel: every valid request is answered right, and the process stays up', async () => {
    const p = await serve();
    const load = new Load({ clients: [client(), client()], workersPerClient: 3, maxMs: 60_000 });
    await load.answered(50);

    const abuse = client();
    const big = Buffer.alloc(5 * 1024 * 1024, 'a');
    const deepBody = '['.repeat(200_000) + ']'.repeat(200_000);
    // 50,000 levels, written as text (JSON.stringify itself would overflow the test's stack): as an
    // Egress's whole spec, and under a real pod's spec.affinity (the pod has its container and is in
    // the enrolled namespace curl, so it goes all the way through the injector).
    const deepValue = '{"a":'.repeat(50_000) + '"x"' + '}'.repeat(50_000);
    const deepEgress = egressReview(egressObject({ name: 'deep', spec: { deep: 'DEEP' } }));
    const curlPod = podObject({ namespace: 'curl' }) as { spec: Record<string, unknown> };
    const deepPod = podReview({ ...curlPod, spec: { ...curlPod.spec, affinity: { deep: 'DEEP' } } });
    const withDeepValue = (review: unknown) => JSON.stringify(review).replace('{"deep":"DEEP"}', deepValue);
    const post = (webhook: 'validate' | 'mutate', body: string | Buffer, contentType = 'application/json') =>
      abuse.raw('POST', `/${webhook}?timeout=10s`, body, { 'content-type': contentType }).then(
        (r) => ({ status: r.status, body: r.body }),
        // A 413 may be sent (and the connection closed) before the client has written 5 MiB.
        (err: NodeJS.ErrnoException) => ({ status: -1, body: String(err.code) }),
      );

    const slow = await Promise.all(Array.from({ length: 30 }, () => slowLoris(p.port, ca)));
    sockets.push(...slow);
    const [badJson, wrongType, bigBodies, deepBodies, deepObjects, garbage] = await Promise.all([
      Promise.all(Array.from({ length: 40 }, (_, i) => post(i % 2 ? 'validate' : 'mutate', '{"apiVersion":'))),
      Promise.all(Array.from({ length: 20 }, (_, i) => post(i % 2 ? 'validate' : 'mutate', JSON.stringify(egressReview()), i % 4 ? 'text/plain' : 'application/x-www-form-urlencoded'))),
      Promise.all(Array.from({ length: 4 }, (_, i) => post(i % 2 ? 'validate' : 'mutate', big))),
      Promise.all([post('validate', deepBody), post('mutate', deepBody)]),
      Promise.all([abuse.post('validate', withDeepValue(deepEgress)), abuse.post('mutate', withDeepValue(deepPod))]),
      // TLS connections that send bytes that are not HTTP, and plain TCP that is not TLS.
      Promise.all([
        ...Array.from({ length: 10 }, async () => {
          const s = await openTls(p.port, ca);
          sockets.push(s);
          s.socket.end('\u0000\u00ff GARBAGE \r\n\r\n');
          return (await s.closed).received;
        }),
        ...Array.from(
          { length: 10 },
          () =>
            new Promise<string>((res) => {
              let received = '';
              let how = 'closed';
              const s = net.connect(p.port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
              s.on('data', (d: Buffer) => (received += d.toString('latin1')));
              s.on('error', (err: NodeJS.ErrnoException) => (how = `error ${err.code}`));
              s.on('close', () => res(`${how}; received ${JSON.stringify(received)}`));
            }),
        ),
      ]),
    ]);
    expect(badJson.map((r) => r.status)).to.deep.equal(Array(40).fill(400));
    expect(wrongType.map((r) => r.status)).to.deep.equal(Array(20).fill(415));
    for (const r of bigBodies) expect(r.status === 413 || ['EPIPE', 'ECONNRESET'].includes(r.body), JSON.stringify(r)).to.equal(true);
    expect(deepBodies.map((r) => r.status)).to.deep.equal([400, 400]);
    // Deep objects inside a review get the answer a shallow one would. The Egress: denied, 422, for
    // what its spec lacks and the unknown field it has (the rules do not recurse into it).
    const [egressAnswer, podAnswer] = deepObjects.map((r) => {
      expect(r.status, r.body.slice(0, 300)).to.equal(200);
      return JSON.parse(r.body) as { response: Record<string, any> };
    });
    expect(egressAnswer!.response).to.deep.equal({
      uid: deepEgress.request.uid,
      allowed: false,
      status: {
        status: 'Failure',
        code: 422,
        reason: 'Invalid',
        message:
          'Egress.policy.openservicemesh.io "deep" is invalid: [spec.sources: Required value, spec.ports: Required value, spec.a: Forbidden: unknown field; known fields: "sources", "hosts", "ipAddresses", "ports", "matches"]',
        details: {
          group: 'policy.openservicemesh.io',
          kind: 'Egress',
          name: 'deep',
          causes: [
            { reason: 'FieldValueRequired', field: 'spec.sources', message: 'Required value' },
            { reason: 'FieldValueRequired', field: 'spec.ports', message: 'Required value' },
            { reason: 'FieldValueForbidden', field: 'spec.a', message: 'Forbidden: unknown field; known fields: "sources", "hosts", "ipAddresses", "ports", "matches"' },
          ],
        },
      },
    });
    // The pod: allowed and injected, with a patch that leaves the deep affinity alone and applies to
    // the pod as sent (parsed from the same text, as kube-apiserver holds it).
    expect(podAnswer!.response).to.include({ uid: deepPod.request.uid, allowed: true, patchType: 'JSONPatch' });
    expect(podAnswer!.response.status, 'no status on an injected pod').to.equal(undefined);
    const podPatch = JSON.parse(Buffer.from(podAnswer!.response.patch as string, 'base64').toString('utf8')) as PatchOperation[];
    expect(podPatch.map((o) => `${o.op} ${o.path}`)).to.deep.equal(['add /metadata/annotations', 'add /spec/containers/1', 'add /spec/volumes', 'add /spec/initContainers']);
    const sentPod = (JSON.parse(withDeepValue(deepPod)) as { request: { object: { spec: Record<string, any> } } }).request.object;
    const deepAffinity = sentPod.spec.affinity;
    const results = applyPatch(sentPod, podPatch);
    expect(results.filter((e) => e !== null).map(String), 'patch operations that did not apply').to.deep.equal([]);
    expect(sentPod.spec.containers.map((c: { name: string }) => c.name)).to.deep.equal(['curl', 'envoy']);
    expect(sentPod.spec.initContainers.map((c: { name: string }) => c.name)).to.deep.equal(['osm-init']);
    expect(sentPod.spec.affinity).to.equal(deepAffinity);
    // Bytes that are not HTTP inside TLS: a 400 and the connection closed. Plain TCP that is not
    // TLS: the handshake fails and the server closes the connection (nothing HTTP is sent back).
    const [tlsGarbage, plainGarbage] = [garbage.slice(0, 10), garbage.slice(10)];
    for (const received of tlsGarbage) expect(received).to.match(/^HTTP\/1\.1 400 Bad Request\r\n/);
    for (const outcome of plainGarbage) expect(outcome).to.be.oneOf(['closed; received ""', 'error ECONNRESET; received ""']);

    // With the slow-loris connections still open, valid requests keep flowing.
    await load.answered(200);
    expect(slow.filter((s) => s.socket.destroyed), 'slow-loris connections still open (the default headers timeout is 32 s)').to.have.length(0);
    const report = await load.stop();
    expectCleanLoad(report, 'malformed burst');

    expect(p.child.exitCode, 'the process is still running').to.equal(null);
    expect((await client(false).raw('GET', '/healthz')).status).to.equal(200);
    expect(p.stderr()).not.to.match(/"level":(50|60)/);
    expect(p.stderr()).not.to.match(/^\s+at /m);
  });

  it('SIGTERM under load: readiness turns false first, requests in flight are answered, then exit 0', async () => {
    const p = await serve(['--shutdown-delay', '2']);
    const probe = client(false);
    const load = new Load({ clients: [client(), client()], workersPerClient: 3, maxMs: 60_000 });
    await load.answered(50);

    // Requests in flight across the whole shutdown: the server has their headers, not their bodies.
    const held = await Promise.all([
      holdRequest(p.port, ca, 'validate', egressReview(egressObject({ name: 'held-valid' }))),
      holdRequest(p.port, ca, 'validate', egressReview(egressObject({ name: 'held-bad', spec: { sources: [], ports: [] } }))),
      holdRequest(p.port, ca, 'mutate', podReview(podObject({ namespace: 'curl' }))),
    ]);
    expect((await probe.raw('GET', '/readyz')).status).to.equal(200);

    const sigtermAt = load.now();
    p.child.kill('SIGTERM');
    // Readiness goes false while the process still serves (the --shutdown-delay window).
    let readyz = await probe.raw('GET', '/readyz');
    for (let i = 0; readyz.status === 200 && i < 200; i++) {
      await sleep(10);
      readyz = await probe.raw('GET', '/readyz');
    }
    expect(readyz.status, 'readiness after SIGTERM').to.equal(503);
    expect(readyz.body).to.match(/shutting down/);
    // Admission is still answered right while endpoints are withdrawn.
    await load.answered(30);
    // The endpoint is gone: no new requests; those in flight finish.
    const report = await load.stop();

    // Wait until the listener is closed (close() has begun) while the held requests keep the process alive.
    let refused = '';
    for (let i = 0; refused !== 'ECONNREFUSED' && i < 400; i++) {
      refused = await probe.raw('GET', '/healthz').then(
        () => 'answered',
        (err: NodeJS.ErrnoException) => String(err.code),
      );
      if (refused !== 'ECONNREFUSED') await sleep(25);
    }
    expect(refused, 'the listener closes after the shutdown delay').to.equal('ECONNREFUSED');
    expect(p.child.exitCode, 'still running while requests are in flight').to.equal(null);

    const answers = await Promise.all(held.map((h) => h.finish()));
    answers.forEach((a, i) => {
      expect(a.status).to.equal(200);
      expect(a.json.response?.uid).to.equal(held[i]!.uid);
    });
    expect(answers.map((a) => a.json.response?.allowed)).to.deep.equal([true, false, true]);
    expect(answers[1]!.json.response?.status?.code).to.equal(422);
    expect(answers[2]!.json.response?.patch).to.be.a('string');

    const exit = await p.exited;
    expect(exit).to.deep.equal({ code: 0, signal: null });
    // Every request the load sent (all of them before readiness was seen false) was answered right,
    // including those started before SIGTERM.
    expectCleanLoad(report, 'SIGTERM');
    expect(report.failures.filter((f) => f.startedAt < sigtermAt)).to.deep.equal([]);
    expect(p.stderr()).not.to.match(/^\s+at /m);
  });
});
