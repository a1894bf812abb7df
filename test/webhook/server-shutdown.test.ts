import { expect } from 'chai';
import { egressReview } from '../support/admission-fixtures.js';
import { heldRequest, startTestServer } from './server-harness.js';

describe('webhook server: graceful shutdown', () => {
  it('setDraining turns readiness false while admission is still answered', async () => {
    const t = await startTestServer();
    try {
      expect((await t.client.raw('GET', '/readyz')).status).to.equal(200);
      t.server.setDraining();
      const ready = await t.client.raw('GET', '/readyz');
      expect(ready.status).to.equal(503);
      expect(ready.body).to.include('shutting down');
      expect((await t.client.review('validate', egressReview())).response.allowed).to.equal(true);
    } finally {
      await t.close();
    }
  });

  it('close() finishes the in-flight request, drops idle keep-alive connections and stops listening', async () => {
    const t = await startTestServer();
    await t.client.review('validate', egressReview()); // leaves an idle pooled connection
    const held = await heldRequest(t.port, t.ca);
    let closedDone = false;
    const closing = t.server.close().then(() => (closedDone = true));

    // New connections are refused while the held request is still being served.
    const refused = await t.client.raw('GET', '/healthz').then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(refused?.code).to.be.oneOf(['ECONNREFUSED', 'ECONNRESET']);
    expect(closedDone).to.equal(false);

    const answer = await held.finish();
    expect(answer.status).to.equal(200);
    expect(answer.json.response).to.deep.equal({ uid: held.uid, allowed: true });
    await closing;
    await held.closed;
    expect(t.server.httpsServer.listening).to.equal(false);
    t.client.close();
  });

  it('close() cuts connections still busy after the shutdown timeout', async () => {
    const t = await startTestServer({ shutdownTimeoutMs: 200 });
    const held = await heldRequest(t.port, t.ca);
    await t.server.close();
    await held.closed;
    t.client.close();
  });
});
