import { expect } from 'chai';
import type { KubeConfig } from '@kubernetes/client-node';
import https from 'node:https';
import { SECRET_KEYS } from '../../src/certs/certificate-secret.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { apiserverRequest, applyInstall, closeServer, FakeClock, kubeConfigFor, NAMES, newManager, publishedBundles, startSwappingServer } from './helpers.js';

const MINUTE = 60 * 1000;
const DAY = 24 * 60 * MINUTE;

/**
 * Two replicas behind a client that calls them the way kube-apiserver does (keep-alive, the CA from
 * the webhook configuration's caBundle as it is at each request), while serving certificates renew
 * and the CA rotates. Every request must succeed.
 */
describe('certificate renewal under continuous requests', () => {
  let api: FakeApiServer;
  let kc: KubeConfig;

  before(async () => {
    api = await FakeApiServer.start();
    applyInstall(api);
    kc = await kubeConfigFor(api);
  });
  after(async () => {
    await api.close();
  });

  it('renews and rotates the CA with zero failed requests', async () => {
    const clock = new FakeClock();
    // Minute-scale lifetimes (real TLS checks the real time; certificates are backdated 5 minutes).
    const lifetimes = { caValidityDays: (7 * MINUTE) / DAY, servingValidityDays: (4 * MINUTE) / DAY };
    const replicas = [newManager(kc, clock, lifetimes), newManager(kc, clock, lifetimes)];
    const servers: Awaited<ReturnType<typeof startSwappingServer>>[] = [];
    for (const r of replicas) {
      const s = await startSwappingServer(await r.start());
      r.onChange((tls) => s.swap(tls));
      servers.push(s);
    }

    const failures: string[] = [];
    const fingerprints = new Set<string>();
    let ok = 0;
    let done = false;
    const MAX_REQUESTS_PER_CLIENT = 3000;

    /** A client loop: keep-alive agent per caBundle (a new bundle means new connections, as in the API server), sequential requests, alternating replicas. */
    async function client(id: number) {
      let agent: https.Agent | undefined;
      let agentBundle = '';
      for (let i = 0; i < MAX_REQUESTS_PER_CLIENT && !done; i++) {
        const bundle = publishedBundles(api)[id % 3]!;
        if (bundle !== agentBundle || i % 20 === 0) {
          agent?.destroy();
          agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
          agentBundle = bundle;
        }
        try {
          const r = await apiserverRequest({ port: servers[i % 2]!.port, caBundle: bundle, agent });
          if (r.status === 200) {
            ok++;
            fingerprints.add(r.fingerprint);
          } else failures.push(`status ${r.status}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
      agent?.destroy();
    }

    const initialCa = Buffer.from((api.get('v1', 'Secret', NAMES.tlsSecret, NAMES.namespace) as { data: Record<string, string> }).data[SECRET_KEYS.caCert]!, 'base64').toString();
    const clients = [client(0), client(1), client(2)];
    try {
      // Drive time forward in 15 s steps for 4 minutes: serving renewals every ~minute, one CA rotation
      // (start, promotion after the propagation wait, retirement after the overlap).
      for (let step = 0; step < 16; step++) {
        clock.advance(15_000);
        for (const r of replicas) {
          await r.check();
          await new Promise((res) => setTimeout(res, 20)); // let requests run between replicas' checks
        }
      }
    } finally {
      done = true;
      await Promise.all(clients);
      for (const r of replicas) r.stop();
      for (const s of servers) await closeServer(s.server);
    }
    const finalCa = Buffer.from((api.get('v1', 'Secret', NAMES.tlsSecret, NAMES.namespace) as { data: Record<string, string> }).data[SECRET_KEYS.caCert]!, 'base64').toString();
    expect(failures).to.deep.equal([]);
    expect(ok).to.be.greaterThan(50);
    expect(finalCa, 'the CA rotated').to.not.equal(initialCa);
    expect(fingerprints.size, 'distinct serving certificates seen by the client').to.be.greaterThan(3);
  });
});
