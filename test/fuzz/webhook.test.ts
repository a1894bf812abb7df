import { expect } from 'chai';
import fc from 'fast-check';
import { rmSync } from 'node:fs';
import { generateBundle } from '../../src/certs/generate.js';
import { DirStateSource } from '../../src/cluster/state-dir.js';
import { resolveProfile } from '../../src/profile.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import { createWebhookServer, type WebhookServer } from '../../src/webhook/server.js';
import { AdmissionClient, checkAdmissionResponse, type RawResponse, type WebhookPath } from '../support/admission-client.js';
import * as arb from '../support/fuzz-arbitraries.js';
import { CaseCounter, countingLogger, FUZZ_SEED, fuzzParameters, hasUniqueContainerNames, scaledRuns, writeStateDir } from './fuzz-support.js';

/**
 * Both webhooks over real HTTPS (one in-process server with the real rules and injector over a
 * --state directory), fed fuzzed bodies in concurrent batches over keep-alive connections: no
 * crash, no hang, no 5xx (and no AdmissionReview carrying 500: that is an exception in the core),
 * every answer a well-formed AdmissionReview echoing the uid (checked as kube-apiserver checks it)
 * or a 4xx with a plain reason when there is no uid to answer.
 */

const REQUEST_DEADLINE_MS = 15_000;

/** A body to send: JSON of a fuzzed value, or raw text that is rarely JSON at all. */
type Body = { kind: 'json'; value: unknown } | { kind: 'raw'; text: string };

const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 12, arbitrary: arb.anyReviewBody.map((value) => ({ kind: 'json' as const, value })) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('', '{', '{"apiVersion":', '[]', 'null', '"x"', '\u0000', '{"a":1}{"b":2}'))
      .map((text) => ({ kind: 'raw' as const, text })),
  },
);

const batch = fc.array(fc.tuple(body, fc.constantFrom<WebhookPath>('validate', 'mutate')), { minLength: 1, maxLength: 8 });

function withDeadline<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${REQUEST_DEADLINE_MS} ms (hang): ${what}`)), REQUEST_DEADLINE_MS);
    }),
  ]);
}

/** What the server must do with one body, checked; throws with the reason when it did not. */
function checkAnswer(webhook: WebhookPath, sent: Body, http: RawResponse): void {
  if (http.status >= 500) throw new Error(`HTTP ${http.status} from /${webhook}: ${http.body.slice(0, 300)}`);
  let value: unknown = sent.kind === 'json' ? sent.value : undefined;
  if (sent.kind === 'raw') {
    try {
      value = JSON.parse(sent.text);
    } catch {
      value = undefined;
    }
  }
  if (!arb.expectsReviewAnswer(value)) {
    if (http.status !== 400) throw new Error(`expected HTTP 400 for a body with no uid to answer, got ${http.status}: ${http.body.slice(0, 300)}`);
    if (http.body.trim() === '') throw new Error('a 400 must carry a reason');
    if (!String(http.headers['content-type'] ?? '').startsWith('text/plain')) throw new Error(`a 400 should be text/plain, got ${http.headers['content-type']}`);
    return;
  }
  // JSON.stringify dropped nothing the check needs; the client compares uid and applies the patch to request.object.
  const checked = checkAdmissionResponse(webhook, JSON.parse(JSON.stringify(value)) as { request: { uid: string; object?: unknown } }, http);
  const code = checked.response.status?.code;
  if (code !== undefined && code >= 500) throw new Error(`AdmissionReview with status ${code} (an exception in the core?): ${checked.response.status?.message}`);
  if (checked.patched !== undefined && hasUniqueContainerNames(value.request.object) && !hasUniqueContainerNames(checked.patched)) {
    throw new Error('the patched pod has duplicate container names');
  }
}

describe(`fuzz: both webhooks over real HTTPS (seed ${FUZZ_SEED})`, function () {
  this.timeout(120_000);
  let server: WebhookServer;
  let client: AdmissionClient;
  let stateDir: string;
  let logs: ReturnType<typeof countingLogger>;
  let sent = 0;
  // Batches are the fast-check cases; each batch holds at least one request, and every request's
  // answer is checked: the requests checked must reach the batches run.
  const batches = new CaseCounter('fuzz webhook (batches)');
  const checked = new CaseCounter('fuzz webhook (requests answered and checked)');

  before(async () => {
    const certs = await generateBundle('meshgate fuzz CA', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    stateDir = writeStateDir();
    const source = new DirStateSource(resolveProfile('osm'), stateDir);
    await source.start();
    logs = countingLogger();
    server = createWebhookServer({ logger: logs.logger, source, settings: DEFAULT_SETTINGS, tls: { cert: certs.cert, key: certs.key } });
    const addr = await server.listen(0, '127.0.0.1');
    client = new AdmissionClient({ baseUrl: `https://127.0.0.1:${addr.port}`, ca: certs.caCert, keepAlive: true });
  });

  after(async () => {
    client?.close();
    await server?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    console.log(`      fuzz webhook: ${checked.total} requests checked in ${batches.total} batches (seed ${FUZZ_SEED})`);
  });

  it('answers every fuzzed body well-formed, echoing the uid, never 5xx, never hanging', async () => {
    await fc.assert(
      batches.asyncProperty(batch, async (cases) => {
        sent += cases.length;
        await Promise.all(
          cases.map(async ([b, webhook]) => {
            const payload = b.kind === 'json' ? JSON.stringify(b.value) : b.text;
            const http = await withDeadline(client.post(webhook, payload), `/${webhook} ${payload.slice(0, 200)}`);
            checkAnswer(webhook, b, http);
            checked.add(1);
          }),
        );
      }),
      fuzzParameters(220),
    );
    batches.expectFloor('fuzzed bodies', scaledRuns(220));
    checked.expectFloor('fuzzed bodies', scaledRuns(220));
    // Still alive and nothing logged as an unexpected error.
    expect((await client.raw('GET', '/healthz')).status).to.equal(200);
    expect(logs.errors, 'unexpected errors logged by the server').to.deep.equal([]);
  });

  it('well-typed pods in the enrolled namespace are injected over the wire with a patch kube-apiserver accepts', async () => {
    let patched = 0;
    let podsSent = 0;
    await fc.assert(
      batches.asyncProperty(fc.array(arb.wellTypedPod, { minLength: 1, maxLength: 6 }), async (pods) => {
        await Promise.all(
          pods.map(async (pod) => {
            const review = {
              apiVersion: 'admission.k8s.io/v1',
              kind: 'AdmissionReview',
              request: {
                uid: `fuzz-${sent++}`,
                kind: { group: '', version: 'v1', kind: 'Pod' },
                resource: { group: '', version: 'v1', resource: 'pods' },
                namespace: 'curl',
                operation: 'CREATE',
                userInfo: { username: 'fuzz' },
                object: pod,
                oldObject: null,
                dryRun: false,
              },
            };
            const http = await withDeadline(client.post('mutate', JSON.stringify(review)), 'pod');
            checkAnswer('mutate', { kind: 'json', value: review }, http);
            checked.add(1);
            podsSent++;
            if (JSON.parse(http.body).response.patch) patched++;
          }),
        );
      }),
      fuzzParameters(60),
    );
    batches.expectFloor('well-typed pods', scaledRuns(60));
    checked.expectFloor('well-typed pods', scaledRuns(60));
    // The arbitraries must reach the injector, or this proves nothing: at least a tenth of the pods
    // (a share, not a count, so a smaller FUZZ_SCALE does not fail it).
    expect(patched, `pods injected of ${podsSent}`).to.be.greaterThan(podsSent / 10);
    expect(logs.errors).to.deep.equal([]);
  });
});
