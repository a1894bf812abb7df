import { expect } from 'chai';
import type { KubeConfig } from '@kubernetes/client-node';
import { X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import { CERT_ANNOTATIONS, SECRET_KEYS } from '../../src/certs/certificate-secret.js';
import { splitPemBundle, signedBy } from '../../src/certs/pem.js';
import { defaultInstallOptions } from '../../src/manifests/defaults.js';
import { renderInstall } from '../../src/manifests/render-install.js';
import { FakeApiServer, type KubeObj, type RequestRecord } from '../support/fake-apiserver.js';
import {
  apiserverRequest,
  applyInstall,
  closeServer,
  FakeClock,
  kubeConfigFor,
  NAMES,
  newManager,
  publishedBundles,
  startSwappingServer,
} from './helpers.js';

const DAY = 24 * 60 * 60 * 1000;
const MINUTE = 60 * 1000;
const SECRETS = '/secrets';
const VWC = 'admissionregistration.k8s.io/validatingwebhookconfigurations';
const MWC = 'admissionregistration.k8s.io/mutatingwebhookconfigurations';

function secretOf(api: FakeApiServer): KubeObj & { type?: string; data: Record<string, string>; metadata: { annotations?: Record<string, string> } } {
  const s = api.get('v1', 'Secret', NAMES.tlsSecret, NAMES.namespace);
  if (!s) throw new Error('no Secret');
  return s as never;
}
const text = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString('utf8');

interface RbacRule {
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
  verbs: string[];
  /** The Role's namespace; undefined for the ClusterRole. */
  namespace?: string;
}

/** The certificate-related rules of the install (its Role, and the ClusterRole's webhook-configuration rules). */
function installRbacRules(): RbacRule[] {
  const objects = renderInstall(defaultInstallOptions());
  const clusterRole = objects.find((o) => o.kind === 'ClusterRole') as unknown as { rules: RbacRule[] };
  const role = objects.find((o) => o.kind === 'Role') as unknown as { metadata: { namespace: string }; rules: RbacRule[] };
  return [
    ...clusterRole.rules.filter((r) => r.apiGroups.includes('admissionregistration.k8s.io')),
    ...role.rules.map((r) => ({ ...r, namespace: role.metadata.namespace })),
  ];
}

/** RBAC's decision for one recorded request (resourceNames never match a create, which has no name yet). */
function allows(rule: RbacRule, r: RequestRecord): boolean {
  const slash = (r.resource ?? '').indexOf('/');
  const group = (r.resource ?? '').slice(0, slash);
  const plural = (r.resource ?? '').slice(slash + 1);
  return (
    rule.apiGroups.includes(group) &&
    rule.resources.includes(plural) &&
    rule.verbs.includes(r.verb) &&
    (rule.namespace === undefined || rule.namespace === r.namespace) &&
    (rule.resourceNames === undefined || (r.name !== undefined && rule.resourceNames.includes(r.name)))
  );
}

describe('CertificateManager against a fake API server (real @kubernetes/client-node over HTTPS)', function () {
  let api: FakeApiServer;
  let kc: KubeConfig;
  let clock: FakeClock;

  beforeEach(async () => {
    api = await FakeApiServer.start();
    applyInstall(api);
    kc = await kubeConfigFor(api);
    clock = new FakeClock();
  });
  afterEach(async () => {
    await api.close();
  });

  it('first start creates the kubernetes.io/tls Secret and patches caBundle into every webhook of both configurations', async () => {
    const m = newManager(kc, clock);
    const tls = await m.start();
    const secret = secretOf(api);
    expect(secret.type).to.equal('kubernetes.io/tls');
    expect(Object.keys(secret.data).sort()).to.deep.equal([SECRET_KEYS.caCert, SECRET_KEYS.caKey, SECRET_KEYS.cert, SECRET_KEYS.key].sort());
    expect(text(secret.data[SECRET_KEYS.cert])).to.equal(tls.cert);
    const ca = text(secret.data[SECRET_KEYS.caCert]);
    expect(signedBy(tls.cert, ca)).to.equal(true);
    expect(secret.metadata.annotations?.[CERT_ANNOTATIONS.caBundle]?.trim()).to.equal(ca.trim());
    const leaf = new X509Certificate(tls.cert);
    expect(leaf.subjectAltName).to.include(`DNS:${NAMES.service}.${NAMES.namespace}.svc`);
    expect(leaf.signatureAlgorithm).to.equal('ecdsa-with-SHA256');
    expect(new X509Certificate(ca).signatureAlgorithm).to.equal('ecdsa-with-SHA256');
    const bundles = publishedBundles(api);
    expect(bundles).to.have.length(3); // policy + pod-guard validating webhooks, inject mutating webhook
    for (const b of bundles) expect(b.trim()).to.equal(ca.trim());
    expect(api.requestsFor('patch', VWC)).to.have.length(1);
    expect(api.requestsFor('patch', MWC)).to.have.length(1);
    m.stop();
  });

  it('a second replica reuses the Secret and finds nothing to patch', async () => {
    const first = await newManager(kc, clock).start();
    api.clearRequests();
    const second = await newManager(kc, clock).start();
    expect(second).to.deep.equal(first);
    expect(api.requestsFor('create', SECRETS)).to.have.length(0);
    expect(api.requestsFor('update', SECRETS)).to.have.length(0);
    expect(api.requestsFor('patch', VWC)).to.have.length(0);
  });

  it('replicas racing to create converge on one Secret (409 AlreadyExists → re-read and reuse)', async () => {
    const replicas = Array.from({ length: 4 }, () => newManager(kc, clock));
    const results = await Promise.all(replicas.map((r) => r.start()));
    for (const r of results) expect(r).to.deep.equal(results[0]);
    expect(text(secretOf(api).data[SECRET_KEYS.cert])).to.equal(results[0]!.cert);
    const creates = api.requestsFor('create', SECRETS);
    expect(creates.length).to.be.greaterThan(1);
    expect(creates.filter((r) => r.status === 409)).to.have.length(creates.length - 1);
    for (const b of publishedBundles(api)) expect(b).to.equal(replicas[0]!.caBundle());
  });

  it('replicas racing to renew converge (409 Conflict → re-read and adopt the winner)', async () => {
    const a = newManager(kc, clock);
    const b = newManager(kc, clock);
    const before = await a.start();
    await b.start();
    const changes: string[] = [];
    a.onChange((t) => changes.push(`a:${t.cert}`));
    b.onChange((t) => changes.push(`b:${t.cert}`));
    clock.advance(250 * DAY); // past 2/3 of the 365-day serving certificate
    await Promise.all([a.check(), b.check()]);
    const after = a.current();
    expect(after.cert).to.not.equal(before.cert);
    expect(b.current()).to.deep.equal(after);
    expect(text(secretOf(api).data[SECRET_KEYS.cert])).to.equal(after.cert);
    expect(changes.sort()).to.deep.equal([`a:${after.cert}`, `b:${after.cert}`].sort());
    expect(api.requestsFor('update', SECRETS).filter((r) => r.status === 409)).to.have.length(1);
  });

  it('adopts the Secret after an injected update conflict (and logs through a pino logger)', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const m = newManager(kc, clock, { logger });
    const before = await m.start();
    clock.advance(250 * DAY);
    api.injectConflicts(1);
    await m.check();
    expect(m.current().cert).to.not.equal(before.cert);
    expect(text(secretOf(api).data[SECRET_KEYS.cert])).to.equal(m.current().cert);
    expect(lines.join('')).to.include('another replica wrote the certificate Secret first');
  });

  it('renews the serving certificate at 2/3 of its lifetime, not before, with the same CA', async () => {
    const m = newManager(kc, clock);
    const first = await m.start();
    const ca = m.caBundle();
    clock.advance(200 * DAY);
    await m.check();
    expect(m.current()).to.deep.equal(first);
    clock.advance(50 * DAY);
    await m.check();
    expect(m.current().cert).to.not.equal(first.cert);
    expect(m.caBundle()).to.equal(ca);
    expect(signedBy(m.current().cert, ca)).to.equal(true);
  });

  it('rotates the CA in steps so the published caBundle always verifies what every replica serves', async () => {
    // Real TLS verifies against the real time: certificates are backdated 5 minutes, so the fake
    // clock may run at most that far ahead. Lifetimes of minutes make the whole rotation fit:
    // serving 4 min (renewed ~1 min after issue), CA 7 min (rotation starts ~3 min after issue).
    const lifetimes = { caValidityDays: (7 * MINUTE) / DAY, servingValidityDays: (4 * MINUTE) / DAY };
    const a = newManager(kc, clock, lifetimes);
    const b = newManager(kc, clock, lifetimes);
    const servers = await Promise.all([a.start(), b.start()].map(async (p) => startSwappingServer(await p)));
    a.onChange((t) => servers[0]!.swap(t));
    b.onChange((t) => servers[1]!.swap(t));
    const oldCa = text(secretOf(api).data[SECRET_KEYS.caCert]);
    const served = new Set<string>();

    // The invariant: every webhook's caBundle verifies the certificate each replica serves.
    const assertServable = async () => {
      for (const bundle of publishedBundles(api)) {
        for (const s of servers) {
          const r = await apiserverRequest({ port: s.port, caBundle: bundle });
          expect(r.status).to.equal(200);
          served.add(r.fingerprint);
        }
      }
    };
    try {
      await assertServable();
      // Serving certificates renew every minute or so while the CA approaches 2/3 of its life.
      for (let i = 0; i < 10 && secretOf(api).data[SECRET_KEYS.nextCaCert] === undefined; i++) {
        clock.advance(30_000);
        await a.check();
        await assertServable();
        await b.check();
        await assertServable();
      }
      // Step 1: the new CA joins the bundle; serving certificates are still signed by the old CA.
      const secret1 = secretOf(api);
      expect(secret1.data[SECRET_KEYS.nextCaCert], 'next CA').to.be.a('string');
      const nextCa = text(secret1.data[SECRET_KEYS.nextCaCert]);
      for (const bundle of publishedBundles(api)) expect(splitPemBundle(bundle)).to.have.length(2);
      expect(signedBy(a.current().cert, oldCa)).to.equal(true);
      expect(secret1.metadata.annotations?.[CERT_ANNOTATIONS.bundlePublishedAt]).to.be.a('string');

      // Not before the propagation wait.
      await a.check();
      expect(signedBy(a.current().cert, oldCa)).to.equal(true);

      // Step 2: after the propagation wait the new CA signs; the old one stays trusted.
      clock.advance(2500);
      await a.check();
      await assertServable();
      expect(signedBy(a.current().cert, nextCa)).to.equal(true);
      expect(signedBy(b.current().cert, oldCa), 'b still serves the old certificate').to.equal(true);
      await b.check();
      await assertServable();
      expect(b.current()).to.deep.equal(a.current());
      for (const bundle of publishedBundles(api)) expect(splitPemBundle(bundle)).to.have.length(2);

      // Step 3: after the overlap the old CA leaves the bundle.
      clock.advance(11_000);
      await a.check();
      await b.check();
      await assertServable();
      for (const bundle of publishedBundles(api)) expect(bundle.trim()).to.equal(nextCa.trim());
      expect(secretOf(api).data[SECRET_KEYS.nextCaCert]).to.equal(undefined);
      expect(served.size, 'certificates served over the test').to.be.greaterThan(2);

      // The install's RBAC allows every call of this whole life cycle, and grants no verb it never used.
      const rules = installRbacRules();
      const calls = api.requests.filter((r) => r.verb !== 'discovery');
      for (const r of calls) expect(rules.some((rule) => allows(rule, r)), `${r.verb} ${r.resource} ${r.name ?? ''}`).to.equal(true);
      for (const rule of rules) {
        for (const verb of rule.verbs) {
          expect(calls.some((r) => allows({ ...rule, verbs: [verb] }, r)), `granted but never used: ${verb} on ${rule.resources.join(',')}`).to.equal(true);
        }
      }
    } finally {
      for (const s of servers) await closeServer(s.server);
    }
  });

  it('reissues a serving certificate that lacks the Service DNS names, and regenerates an unusable Secret', async () => {
    await newManager(kc, clock).start();
    const renamed = newManager(kc, clock, { serviceName: 'meshgate-renamed' });
    await renamed.start();
    expect(new X509Certificate(renamed.current().cert).subjectAltName).to.include('DNS:meshgate-renamed.osm-system.svc');

    const broken = secretOf(api);
    api.update({ ...broken, data: { ...broken.data, [SECRET_KEYS.key]: Buffer.from('garbage').toString('base64') } });
    const repaired = newManager(kc, clock);
    const tls = await repaired.start();
    expect(text(secretOf(api).data[SECRET_KEYS.key])).to.equal(tls.key);
    // The CA it had is kept in the bundle until the overlap ends, so nothing that trusted it breaks at once.
    expect(splitPemBundle(repaired.caBundle())).to.have.length(2);
  });

  it('starts over with a new CA when the stored CA has expired (a cluster that was off for years)', async () => {
    const m = newManager(kc, clock, { caValidityDays: 30, servingValidityDays: 10 });
    await m.start();
    const oldCa = m.caBundle();
    clock.advance(40 * DAY);
    await m.check();
    expect(m.caBundle()).to.not.equal(oldCa);
    expect(splitPemBundle(m.caBundle())).to.have.length(1);
    expect(signedBy(m.current().cert, m.caBundle())).to.equal(true);
    for (const b of publishedBundles(api)) expect(b).to.equal(m.caBundle());
  });

  it('publishes the caBundle into a webhook configuration created after start-up, at the next check', async () => {
    api.remove('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', NAMES.mutatingWebhookConfiguration);
    const m = newManager(kc, clock);
    await m.start();
    expect(publishedBundles(api)).to.have.length(2);
    applyInstallMutating(api);
    await m.check();
    const bundles = publishedBundles(api);
    expect(bundles).to.have.length(3);
    for (const b of bundles) expect(b).to.equal(m.caBundle());
  });
});

function applyInstallMutating(api: FakeApiServer): void {
  const fresh = new FakeApiServerShim();
  applyInstall(fresh as unknown as FakeApiServer);
  api.create(fresh.objects.find((o) => o.kind === 'MutatingWebhookConfiguration')!);
}

/** Collects what applyInstall would create. */
class FakeApiServerShim {
  readonly objects: KubeObj[] = [];
  create(o: KubeObj): void {
    this.objects.push(o);
  }
}
