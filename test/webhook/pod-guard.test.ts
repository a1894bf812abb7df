import { expect } from 'chai';
import { storeFromObjects } from '../../src/cluster/state-dir.js';
import { mutatePod } from '../../src/injector/index.js';
import { resolveProfile, type ProfileName } from '../../src/profile.js';
import { DEFAULT_SETTINGS, type MeshgateSettings } from '../../src/settings.js';
import { validateAdmission } from '../../src/validate-admission.js';
import { renderKubectlError, renderKubectlWarnings, type CheckedReview } from '../support/admission-client.js';
import { admissionReview, KINDS, podObject, podReview } from '../support/admission-fixtures.js';
import { XDS_CA_PEM } from '../injector/fixtures.js';
import { FakeSource, startTestServer, type TestServer } from './server-harness.js';

type Json = Record<string, any>;

/**
 * Issue #15 through the real HTTPS webhook: what kube-apiserver does with a Pod CREATE in an
 * enrolled namespace — /mutate, the returned JSON Patch applied to the pod, the result sent to
 * /validate (the pod guard) — with every answer checked as kube-apiserver checks it (SPEC §4).
 */

const SETTINGS: MeshgateSettings = { ...DEFAULT_SETTINGS, clusterCIDRs: ['10.244.0.0/16', '10.96.0.0/12'], xds: { ...DEFAULT_SETTINGS.xds, caPem: XDS_CA_PEM } };

function meshObjects(profileName: ProfileName): unknown[] {
  const profile = resolveProfile(profileName);
  const d = profile.domain;
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'curl', labels: { [`${d}/monitored-by`]: profile.meshName }, annotations: { [`${d}/sidecar-injection`]: 'enabled' } },
    },
    {
      apiVersion: `${profile.meshConfig.group}/${profile.meshConfig.version}`,
      kind: 'MeshConfig',
      metadata: { name: profile.meshConfig.name, namespace: profile.controlNamespace },
      spec: { traffic: { enableEgress: false, outboundIPRangeExclusionList: ['203.0.113.0/24'] }, sidecar: { logLevel: 'warn' } },
    },
  ];
}

const servers = new Map<string, Promise<TestServer>>();

/** One real server per profile and settings variant, started on first use. */
function server(profileName: ProfileName = 'osm', settings: Partial<MeshgateSettings> = {}): Promise<TestServer> {
  const key = JSON.stringify([profileName, settings]);
  let s = servers.get(key);
  if (!s) {
    const store = storeFromObjects(resolveProfile(profileName), meshObjects(profileName));
    s = startTestServer({ source: new FakeSource(store), validate: validateAdmission, mutate: mutatePod, settings: { ...SETTINGS, ...settings } });
    servers.set(key, s);
  }
  return s;
}

/** kube-apiserver's way for a Pod CREATE: mutate, apply the patch, then the pod guard. */
async function create(pod: Json, t: TestServer): Promise<{ mutate: CheckedReview; validate: CheckedReview; admitted: Json }> {
  const mutate = await t.client.review('mutate', podReview(pod, { namespace: 'curl' }));
  expect(mutate.response.allowed, JSON.stringify(mutate.response.status)).to.equal(true);
  const admitted = (mutate.patched ?? pod) as Json;
  const validate = await t.client.review('validate', podReview(admitted, { namespace: 'curl' }));
  return { mutate, validate, admitted };
}

function expectForbidden(r: CheckedReview, ...says: string[]): void {
  expect(r.response.allowed).to.equal(false);
  expect(r.response.status).to.include({ code: 403, reason: 'Forbidden' });
  for (const s of says) expect(r.response.status?.message).to.include(s);
  expect(renderKubectlError(r.review)).to.match(/^Error from server \(Forbidden\): admission webhook ".*" denied the request: /);
}

const curl = (annotations?: Record<string, string>, spec?: Json) => podObject({ name: 'curl-1', namespace: 'curl', annotations, spec }) as Json;
const curlSpec = (...extra: Json[]) => ({ serviceAccountName: 'curl', containers: [{ name: 'curl', image: 'curlimages/curl', command: ['sleep', '365d'] }, ...extra] });

describe('webhook: the pod guard closes sidecar bypasses (issue #15)', () => {
  after(async () => {
    for (const s of servers.values()) await (await s).close();
  });

  describe('the three bypasses of the issue', () => {
    it('a hand-written meshgate.io/status: no patch, and the guard denies it', async () => {
      const t = await server();
      const status = '{"version":"0.1.0","containers":["envoy"],"initContainers":["osm-init"],"volumes":["meshgate-token"]}';
      const { mutate, validate } = await create(curl({ 'meshgate.io/status': status }), t);
      expect(mutate.patch).to.equal(undefined);
      expectForbidden(validate, 'init container "osm-init" is missing', 'container "envoy" is missing', 'volume "meshgate-token"', '(or set --bypass-guard warn)');
    });

    it('its own container named envoy (busybox sleep): no patch, and the guard denies it', async () => {
      const t = await server();
      const { mutate, validate } = await create(curl(undefined, curlSpec({ name: 'envoy', image: 'busybox', command: ['sleep', '3600'] })), t);
      expect(mutate.patch).to.equal(undefined);
      expectForbidden(validate, 'container "envoy": image is "busybox", meshgate renders "envoyproxy/envoy-distroless:v1.34.1"', 'container "envoy": command is ["sleep","3600"]');
    });

    it('sidecar-injection: disabled: admitted with a kubectl warning by default', async () => {
      const t = await server();
      const { mutate, validate } = await create(curl({ 'openservicemesh.io/sidecar-injection': 'disabled' }), t);
      expect(mutate.patch).to.equal(undefined);
      expect(validate.response.allowed).to.equal(true);
      expect(renderKubectlWarnings(validate.review)).to.deep.equal([
        'Warning: pod opts out of the sidecar (openservicemesh.io/sidecar-injection: "disabled"): its egress bypasses the mesh\'s egress control (--pod-opt-out deny refuses such pods)',
      ]);
    });
  });

  describe('look-alikes, each denied naming the container and the field', () => {
    const VARIANTS: [string, (injected: Json) => void, string][] = [
      ['right names, wrong command', (p) => (p.spec.initContainers[0].command = ['/bin/sh', '-c', 'true']), 'init container "osm-init": command[2] differs from what meshgate renders'],
      ['right command, wrong image', (p) => (p.spec.containers[1].image = 'docker.io/library/busybox'), 'container "envoy": image is "docker.io/library/busybox"'],
      ['edited arguments', (p) => (p.spec.containers[1].args[1] = '{"admin":{}}'), 'container "envoy": args[1] differs from what meshgate renders'],
      ['a dropped --drain-time-s', (p) => p.spec.containers[1].args.splice(5), 'container "envoy": args differs from what meshgate renders'],
      ['missing token volume', (p) => p.spec.volumes.splice(0), 'volume "meshgate-token" (the proxy\'s ADS token) is missing'],
      ['forged status', (p) => (p.metadata.annotations['meshgate.io/status'] = p.metadata.annotations['meshgate.io/status'].replace('"volumes":["meshgate-token"]', '"volumes":[]')), 'annotation meshgate.io/status: volumes is [], meshgate renders ["meshgate-token"]'],
      ['a proxy a later webhook made privileged', (p) => (p.spec.containers[1].securityContext.privileged = true), 'container "envoy": securityContext.privileged is true, meshgate renders unset'],
    ];
    for (const [name, edit, says] of VARIANTS) {
      it(name, async () => {
        const t = await server();
        const { admitted } = await create(curl(), t);
        const edited = structuredClone(admitted);
        edit(edited);
        expectForbidden(await t.client.review('validate', podReview(edited, { namespace: 'curl' })), says);
      });
    }
  });

  describe('a pod injected by meshgate is never refused by its own guard', () => {
    const ANNOTATIONS: [string, (d: string) => Record<string, string>][] = [
      ['no annotation', () => ({})],
      ['sidecar-injection: enabled', (d) => ({ [`${d}/sidecar-injection`]: 'enabled' })],
      ['outbound-ip-range-exclusion-list', (d) => ({ [`${d}/outbound-ip-range-exclusion-list`]: '192.0.2.0/24, 2001:db8::/32' })],
      ['outbound-ip-range-inclusion-list', (d) => ({ [`${d}/outbound-ip-range-inclusion-list`]: '198.51.100.0/24' })],
      ['outbound-port-exclusion-list', (d) => ({ [`${d}/outbound-port-exclusion-list`]: '5432,6379' })],
      ['meshgate.io/sidecar-mode: native', () => ({ 'meshgate.io/sidecar-mode': 'native' })],
      ['meshgate.io/sidecar-mode: classic', () => ({ 'meshgate.io/sidecar-mode': 'classic' })],
      ['meshgate.io/iptables-backend: legacy', () => ({ 'meshgate.io/iptables-backend': 'legacy' })],
      ['meshgate.io/sidecar-image', () => ({ 'meshgate.io/sidecar-image': 'registry.example/envoy:v1.34.1' })],
      ['all of them', (d) => ({
        [`${d}/sidecar-injection`]: 'enabled',
        [`${d}/outbound-ip-range-exclusion-list`]: '192.0.2.0/24',
        [`${d}/outbound-port-exclusion-list`]: '5432',
        'meshgate.io/iptables-backend': 'nft',
        'meshgate.io/sidecar-image': 'registry.example/envoy:v1.34.1',
      })],
    ];
    for (const profileName of ['osm', 'fsm'] as const) {
      for (const mode of ['classic', 'native'] as const) {
        for (const [name, annotations] of ANNOTATIONS) {
          it(`${profileName}, ${mode} mode, ${name}`, async () => {
            const t = await server(profileName, { sidecarMode: mode });
            const d = resolveProfile(profileName).domain;
            const own = { name: 'setup', image: 'busybox', command: ['true'] };
            const pod = curl(annotations(d), { ...curlSpec(), initContainers: [own] });
            const { mutate, validate, admitted } = await create(pod, t);
            expect(mutate.patch, 'injected').to.not.equal(undefined);
            const names = [...(admitted.spec.initContainers ?? []), ...admitted.spec.containers].map((c: Json) => c.name);
            expect(names).to.include.members([resolveProfile(profileName).initContainerName, 'envoy']);
            expect(validate.response.allowed, validate.response.status?.message).to.equal(true);
            expect(validate.response.warnings ?? []).to.deep.equal([]);
          });
        }
      }
    }
  });

  describe('opt-out: --pod-opt-out allow | warn | deny', () => {
    const optOut = () => curl({ 'openservicemesh.io/sidecar-injection': 'disabled' });
    it('allow: admitted, no warning (OSM)', async () => {
      const { validate } = await create(optOut(), await server('osm', { podOptOut: 'allow' }));
      expect(validate.response.allowed).to.equal(true);
      expect(validate.response.warnings).to.equal(undefined);
    });
    it('warn: admitted with a warning', async () => {
      const { validate } = await create(optOut(), await server('osm', { podOptOut: 'warn' }));
      expect(validate.response.allowed).to.equal(true);
      expect(validate.response.warnings?.[0]).to.include('pod opts out of the sidecar');
    });
    it('deny: 403 naming the annotation and the setting', async () => {
      const { validate } = await create(optOut(), await server('osm', { podOptOut: 'deny' }));
      expectForbidden(validate, 'openservicemesh.io/sidecar-injection: "disabled"', 'remove the annotation (or set --pod-opt-out warn)');
    });
  });

  describe('after admission: Pod UPDATE and pods/ephemeralcontainers', () => {
    const update = (object: Json, oldObject: Json, subResource?: string) => {
      const review = admissionReview(KINDS.pod, { operation: 'UPDATE', namespace: 'curl', object, oldObject });
      if (subResource) {
        review.request.subResource = subResource;
        review.request.requestSubResource = subResource;
      }
      return review;
    };

    it("denies an UPDATE that changes the proxy's image", async () => {
      const t = await server();
      const { admitted } = await create(curl(), t);
      const changed = structuredClone(admitted);
      changed.spec.containers[1].image = 'busybox';
      expectForbidden(await t.client.review('validate', update(changed, admitted)), 'container "envoy": image changed after admission');
    });

    it('allows an UPDATE of labels', async () => {
      const t = await server();
      const { admitted } = await create(curl(), t);
      const changed = structuredClone(admitted);
      changed.metadata.labels.version = 'v2';
      expect((await t.client.review('validate', update(changed, admitted))).response.allowed).to.equal(true);
    });

    for (const [name, securityContext, says] of [
      ['runs as UID 1500', { runAsUser: 1500 }, 'ephemeral container "debugger": securityContext.runAsUser is 1500'],
      ['is privileged', { privileged: true }, 'ephemeral container "debugger": securityContext.privileged is true'],
      ['adds NET_ADMIN', { capabilities: { add: ['NET_ADMIN'] } }, 'securityContext.capabilities.add contains NET_ADMIN'],
      ['adds NET_RAW', { capabilities: { add: ['NET_RAW'] } }, 'securityContext.capabilities.add contains NET_RAW'],
    ] as const) {
      it(`denies kubectl debug with an ephemeral container that ${name}`, async () => {
        const t = await server();
        const { admitted } = await create(curl(), t);
        const debugged = structuredClone(admitted);
        debugged.spec.ephemeralContainers = [{ name: 'debugger', image: 'busybox', targetContainerName: 'curl', securityContext }];
        expectForbidden(await t.client.review('validate', update(debugged, admitted, 'ephemeralcontainers')), says);
      });
    }

    it('allows an ephemeral container that runs as another UID and adds nothing', async () => {
      const t = await server();
      const { admitted } = await create(curl(), t);
      const debugged = structuredClone(admitted);
      debugged.spec.ephemeralContainers = [{ name: 'debugger', image: 'busybox', securityContext: { runAsUser: 1000 } }];
      expect((await t.client.review('validate', update(debugged, admitted, 'ephemeralcontainers'))).response.allowed).to.equal(true);
    });
  });
});
