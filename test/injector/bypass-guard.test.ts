import { expect } from 'chai';
import { applyPatch } from 'rfc6902';
import { checkPodBypass, mutatePod } from '../../src/injector/index.js';
import type { MeshgateSettings } from '../../src/settings.js';
import { curlMesh, curlPod, meshState, podAdmission, SETTINGS } from './fixtures.js';

type Json = Record<string, any>;

function pod(mutate: (p: Json) => void): Json {
  const p = curlPod() as Json;
  mutate(p);
  return p;
}

/** The pod as the API server stores it after meshgate's patch: every operation must apply (RFC 6902, `rfc6902`). */
function injectedPod(original: Json, patch: unknown): Json {
  const injected = structuredClone(original);
  const results = applyPatch(injected, patch as Parameters<typeof applyPatch>[1]);
  const failed = results.flatMap((r, i) => (r ? [`operation ${i} ${JSON.stringify((patch as unknown[])[i]).slice(0, 200)}: ${r.name}: ${r.message}`] : []));
  expect(failed, 'patch operations that did not apply').to.deep.equal([]);
  return injected;
}

function check(p: Json, settings: Partial<MeshgateSettings> = {}, state = curlMesh()) {
  return checkPodBypass(podAdmission(p), state, { ...SETTINGS, ...settings });
}

describe('injector: pod bypass guard (SPEC §3)', () => {
  it('allows an ordinary app pod', () => {
    expect(check(curlPod())).to.deep.equal({ errors: [], warnings: [] });
  });

  const CASES: [string, (p: Json) => void, string[]][] = [
    ['container runs as the proxy UID', (p) => (p.spec.containers[0].securityContext = { runAsUser: 1500 }), ['container "curl"', 'securityContext.runAsUser is 1500']],
    ['pod securityContext runs as the proxy UID', (p) => (p.spec.securityContext = { runAsUser: 1500 }), ['container "curl"', 'pod securityContext.runAsUser is 1500']],
    [
      'adds NET_ADMIN',
      (p) => (p.spec.containers[0].securityContext = { capabilities: { add: ['NET_ADMIN'] } }),
      ['container "curl": securityContext.capabilities.add contains NET_ADMIN, which lets it rewrite the pod\'s iptables and bypass the egress proxy', 'set the bypass guard to warn'],
    ],
    ['adds CAP_NET_RAW (prefixed, lower case)', (p) => (p.spec.containers[0].securityContext = { capabilities: { add: ['cap_net_raw'] } }), ['contains NET_RAW']],
    ['adds ALL', (p) => (p.spec.containers[0].securityContext = { capabilities: { add: ['ALL'] } }), ['contains ALL']],
    ['privileged', (p) => (p.spec.containers[0].securityContext = { privileged: true }), ['securityContext.privileged is true']],
    [
      'the pod\'s own init container adds NET_ADMIN',
      (p) => (p.spec.initContainers = [{ name: 'setup', image: 'busybox', securityContext: { capabilities: { add: ['NET_ADMIN'] } } }]),
      ['init container "setup"'],
    ],
    [
      'an app container named envoy the status does not list',
      (p) => p.spec.containers.push({ name: 'envoy', image: 'x', securityContext: { runAsUser: 1500 } }),
      ['container "envoy"', 'runAsUser is 1500'],
    ],
  ];
  for (const [name, mutate, says] of CASES) {
    it(`forbids: ${name}`, () => {
      const out = check(pod(mutate));
      expect(out.forbidden, JSON.stringify(out)).to.be.a('string');
      for (const s of says) expect(out.forbidden).to.include(s);
      expect(out.errors).to.deep.equal([]);
    });
    it(`warns instead with bypassGuard warn: ${name}`, () => {
      const out = check(pod(mutate), { bypassGuard: 'warn' });
      expect(out.forbidden).to.equal(undefined);
      expect(out.warnings.length).to.be.greaterThan(0);
      for (const w of out.warnings) expect(w.length).to.be.at.most(256);
    });
    it(`checks nothing with bypassGuard off: ${name}`, () => {
      expect(check(pod(mutate), { bypassGuard: 'off' })).to.deep.equal({ errors: [], warnings: [] });
    });
  }

  it('lists every problem of the pod in one message', () => {
    const out = check(pod((p) => (p.spec.containers[0].securityContext = { runAsUser: 1500, privileged: true, capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } })));
    expect(out.forbidden!.split('; ')).to.have.length(5);
  });

  it('warns about hostNetwork pods', () => {
    const out = check(pod((p) => (p.spec.hostNetwork = true)));
    expect(out.forbidden).to.equal(undefined);
    expect(out.warnings.join()).to.include('hostNetwork');
  });

  it('only guards enrolled namespaces, and only CREATE', () => {
    const bad = pod((p) => (p.spec.containers[0].securityContext = { privileged: true }));
    expect(checkPodBypass(podAdmission(bad, 'other'), curlMesh(), SETTINGS).forbidden).to.equal(undefined);
    const ignored = meshState({ namespaces: { curl: { labels: { 'openservicemesh.io/monitored-by': 'osm', 'openservicemesh.io/ignore': 'y' } } } });
    expect(checkPodBypass(podAdmission(bad), ignored, SETTINGS).forbidden).to.equal(undefined);
    expect(checkPodBypass(podAdmission(bad, 'curl', 'UPDATE'), curlMesh(), SETTINGS).forbidden).to.equal(undefined);
  });

  for (const mode of ['classic', 'native'] as const) {
    it(`allows the pod meshgate injected (${mode}), including a privileged init container when the MeshConfig asks`, () => {
      const state = curlMesh('osm', { sidecar: { enablePrivilegedInitContainer: true } });
      const original = curlPod();
      const out = mutatePod(podAdmission(original), state, { ...SETTINGS, sidecarMode: mode });
      if (out.action !== 'patch') throw new Error(out.action);
      const injected = injectedPod(original as Json, out.patch);
      expect(checkPodBypass(podAdmission(injected), state, SETTINGS)).to.deep.equal({ errors: [], warnings: [] });
    });
  }

  it('does not let a status annotation grant more than meshgate grants', () => {
    const out = mutatePod(podAdmission(curlPod()), curlMesh(), SETTINGS);
    if (out.action !== 'patch') throw new Error(out.action);
    const injected = injectedPod(curlPod() as Json, out.patch);
    // The listed proxy container gains NET_ADMIN; the listed init container becomes privileged
    // although the MeshConfig does not ask for it.
    injected.spec.containers[1].securityContext.capabilities.add = ['NET_ADMIN'];
    injected.spec.initContainers[0].securityContext.privileged = true;
    const verdict = checkPodBypass(podAdmission(injected), curlMesh(), SETTINGS);
    expect(verdict.forbidden).to.include('container "envoy": securityContext.capabilities.add contains NET_ADMIN');
    expect(verdict.forbidden).to.include('init container "osm-init": securityContext.privileged is true');
  });

  it('lets the listed iptables container add NET_ADMIN and NET_RAW only, not ALL', () => {
    const out = mutatePod(podAdmission(curlPod()), curlMesh(), SETTINGS);
    if (out.action !== 'patch') throw new Error(out.action);
    const injected = injectedPod(curlPod() as Json, out.patch);
    injected.spec.initContainers[0].securityContext.capabilities.add = ['NET_ADMIN', 'NET_RAW', 'ALL'];
    const verdict = checkPodBypass(podAdmission(injected), curlMesh(), SETTINGS);
    expect(verdict.forbidden).to.be.a('string');
    expect(verdict.forbidden).to.include('init container "osm-init": securityContext.capabilities.add contains ALL');
    expect(verdict.forbidden).to.not.include('contains NET_ADMIN');
    expect(verdict.forbidden).to.not.include('contains NET_RAW');
  });
});
