import { expect } from 'chai';
import { applyPatch } from 'rfc6902';
import { checkPodBypass, mutatePod } from '../../src/injector/index.js';
import { DEFAULT_SETTINGS, type MeshgateSettings } from '../../src/settings.js';
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

/** The pod as the guard sees it: after meshgate's mutating webhook (the patch applied, as kube-apiserver does). */
function mutated(p: Json, settings: MeshgateSettings = SETTINGS, state = curlMesh()): Json {
  const out = mutatePod(podAdmission(p), state, settings);
  if (out.action === 'deny') throw new Error(out.message);
  return out.action === 'patch' ? injectedPod(p, out.patch) : structuredClone(p);
}

function check(p: Json, settings: Partial<MeshgateSettings> = {}, state = curlMesh()) {
  const s = { ...SETTINGS, ...settings };
  return checkPodBypass(podAdmission(mutated(p, s, state)), state, s);
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
      ['container "curl": securityContext.capabilities.add contains NET_ADMIN, which lets it rewrite the pod\'s iptables and bypass the egress proxy', '(or set --bypass-guard warn)'],
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
      'an app container named envoy (a look-alike proxy: the injector skips the pod)',
      (p) => p.spec.containers.push({ name: 'envoy', image: 'x', securityContext: { runAsUser: 1500 } }),
      ['container "envoy": image is "x", meshgate renders "envoyproxy/envoy-distroless:v1.34.1"', 'init container "osm-init" is missing'],
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
    expect(out.forbidden!.split('; ')).to.have.length(4);
  });

  it('warns about hostNetwork pods', () => {
    const out = check(pod((p) => (p.spec.hostNetwork = true)));
    expect(out.forbidden).to.equal(undefined);
    expect(out.warnings.join()).to.include('hostNetwork');
  });

  it('only guards enrolled namespaces; an UPDATE checks only what meshgate injected', () => {
    const bad = pod((p) => (p.spec.containers[0].securityContext = { privileged: true }));
    expect(checkPodBypass(podAdmission(bad, 'other'), curlMesh(), SETTINGS).forbidden).to.equal(undefined);
    const ignored = meshState({ namespaces: { curl: { labels: { 'openservicemesh.io/monitored-by': 'osm', 'openservicemesh.io/ignore': 'y' } } } });
    expect(checkPodBypass(podAdmission(bad), ignored, SETTINGS).forbidden).to.equal(undefined);
    // Security contexts cannot change on UPDATE; the app container's was judged at CREATE.
    const update = { ...podAdmission(mutated(bad)), operation: 'UPDATE' as const, oldObject: mutated(bad) };
    expect(checkPodBypass(update, curlMesh(), SETTINGS).forbidden).to.equal(undefined);
  });

  for (const mode of ['classic', 'native'] as const) {
    it(`allows the pod meshgate injected (${mode}), including a privileged init container when the MeshConfig asks`, () => {
      const state = curlMesh('osm', { sidecar: { enablePrivilegedInitContainer: true } });
      const original = curlPod();
      const out = mutatePod(podAdmission(original), state, { ...SETTINGS, sidecarMode: mode });
      if (out.action !== 'patch') throw new Error(out.action);
      const injected = injectedPod(original as Json, out.patch);
      expect(checkPodBypass(podAdmission(injected), state, { ...SETTINGS, sidecarMode: mode })).to.deep.equal({ errors: [], warnings: [] });
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
    expect(verdict.forbidden).to.include('container "envoy": securityContext.capabilities.add is ["NET_ADMIN"], meshgate renders unset');
    expect(verdict.forbidden).to.include('init container "osm-init": securityContext.privileged is true, meshgate renders unset');
  });

  it('lets the listed iptables container add NET_ADMIN and NET_RAW only, not ALL', () => {
    const out = mutatePod(podAdmission(curlPod()), curlMesh(), SETTINGS);
    if (out.action !== 'patch') throw new Error(out.action);
    const injected = injectedPod(curlPod() as Json, out.patch);
    injected.spec.initContainers[0].securityContext.capabilities.add = ['NET_ADMIN', 'NET_RAW', 'ALL'];
    const verdict = checkPodBypass(podAdmission(injected), curlMesh(), SETTINGS);
    expect(verdict.forbidden).to.be.a('string');
    expect(verdict.forbidden).to.include('init container "osm-init": securityContext.capabilities.add is ["NET_ADMIN","NET_RAW","ALL"], meshgate renders ["NET_ADMIN","NET_RAW"]');
  });
});

describe('injector: pod guard, sidecar integrity (issue #15)', () => {
  const guard = (p: Json, settings: Partial<MeshgateSettings> = {}, state = curlMesh()) => checkPodBypass(podAdmission(p), state, { ...SETTINGS, ...settings });
  const injectedCurl = () => mutated(curlPod());
  const envoyOf = (p: Json) => p.spec.containers.find((c: Json) => c.name === 'envoy');
  const initOf = (p: Json) => p.spec.initContainers.find((c: Json) => c.name === 'osm-init');

  const VARIANTS: [string, () => Json, string[]][] = [
    ['a forged status and no sidecar', () => pod((p) => (p.metadata.annotations = { 'meshgate.io/status': JSON.parse(JSON.stringify(injectedCurl().metadata.annotations))['meshgate.io/status'] })), ['init container "osm-init" is missing', 'container "envoy" is missing', 'volume "meshgate-token" (the proxy\'s ADS token) is missing']],
    ['a look-alike envoy (busybox sleep)', () => pod((p) => p.spec.containers.push({ name: 'envoy', image: 'busybox', command: ['sleep', '3600'] })), ['container "envoy": image is "busybox"', 'container "envoy": command is ["sleep","3600"], meshgate renders ["envoy"]', 'more fields differ']],
    ['a look-alike osm-init only', () => pod((p) => (p.spec.initContainers = [{ name: 'osm-init', image: 'busybox', command: ['true'] }])), ['init container "osm-init": image is "busybox"', 'container "envoy" is missing']],
    ['right names, wrong command', () => { const p = injectedCurl(); initOf(p).command = ['/bin/sh', '-c', 'exit 0']; return p; }, ['init container "osm-init": command[2] differs from what meshgate renders', 'create the pod without meshgate\'s containers']],
    ['right command, wrong image', () => { const p = injectedCurl(); envoyOf(p).image = 'evil/envoy:1'; return p; }, ['container "envoy": image is "evil/envoy:1", meshgate renders "envoyproxy/envoy-distroless:v1.34.1"']],
    ['edited arguments (log level)', () => { const p = injectedCurl(); envoyOf(p).args[3] = 'trace'; return p; }, ['container "envoy": args[3] is "trace", meshgate renders "error"']],
    ['an edited bootstrap', () => { const p = injectedCurl(); envoyOf(p).args[1] = envoyOf(p).args[1].replace('meshgate.osm-system.svc', 'evil.example'); return p; }, ['container "envoy": args[1] differs from what meshgate renders']],
    ['the proxy not running as 1500', () => { const p = injectedCurl(); envoyOf(p).securityContext.runAsUser = 0; return p; }, ['container "envoy": securityContext.runAsUser is 0, meshgate renders 1500']],
    ['a missing token volume', () => { const p = injectedCurl(); p.spec.volumes = []; return p; }, ['volume "meshgate-token" (the proxy\'s ADS token) is missing']],
    ['a token volume for another audience', () => { const p = injectedCurl(); p.spec.volumes[0].projected.sources[0].serviceAccountToken.audience = 'x'; return p; }, ['volume "meshgate-token": projected.sources[0].serviceAccountToken.audience is "x", meshgate renders "meshgate"']],
    ['a missing token mount', () => { const p = injectedCurl(); envoyOf(p).volumeMounts = []; return p; }, ['container "envoy": volumeMounts differs from what meshgate renders']],
    ['a forged status next to a real sidecar', () => { const p = injectedCurl(); p.metadata.annotations['meshgate.io/status'] = '{"version":"0.1.0","containers":[],"initContainers":["osm-init"],"volumes":["meshgate-token"]}'; return p; }, ['annotation meshgate.io/status: containers is [], meshgate renders ["envoy"]']],
    ['a status that is not JSON', () => { const p = injectedCurl(); p.metadata.annotations['meshgate.io/status'] = 'yes'; return p; }, ['annotation meshgate.io/status is "yes", meshgate renders']],
    ['the proxy moved to the init containers', () => { const p = injectedCurl(); p.spec.initContainers.push(p.spec.containers.pop()); return p; }, ['init container "envoy": is an init container, meshgate renders a container (classic sidecar mode)']],
    ['a status that drops the init container', () => { const p = injectedCurl(); p.spec.initContainers = []; return p; }, ['init container "osm-init" is missing']],
  ];
  for (const [name, make, says] of VARIANTS) {
    it(`denies ${name}, naming the container and the field`, () => {
      const out = guard(make());
      expect(out.forbidden, JSON.stringify(out)).to.be.a('string');
      for (const s of says) expect(out.forbidden).to.include(s);
      expect(out.forbidden).to.include('(or set --bypass-guard warn)');
    });
  }

  it('warns instead of denying with --bypass-guard warn, and checks nothing with off', () => {
    const forged = VARIANTS[0]![1]();
    const warned = guard(forged, { bypassGuard: 'warn' });
    expect(warned.forbidden).to.equal(undefined);
    expect(warned.warnings.join('\n')).to.include('bypass guard: container "envoy" is missing');
    expect(guard(forged, { bypassGuard: 'off' })).to.deep.equal({ errors: [], warnings: [] });
  });

  it('denies a pod the mutating webhook never saw (no sidecar at all)', () => {
    expect(guard(curlPod()).forbidden).to.include('container "envoy" is missing');
  });

  it('accepts the fields a later webhook may change (resources, imagePullPolicy) and the API server defaults', () => {
    const p = injectedCurl();
    const envoy = envoyOf(p);
    envoy.resources = { limits: { cpu: '1' } };
    envoy.imagePullPolicy = 'Always';
    envoy.terminationMessagePath = '/dev/termination-log';
    envoy.terminationMessagePolicy = 'File';
    envoy.readinessProbe.successThreshold = 1;
    envoy.readinessProbe.httpGet.scheme = 'HTTP';
    envoy.volumeMounts.push({ name: 'kube-api-access-x1y2z', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true });
    initOf(p).resources = {};
    p.spec.volumes[0].projected.defaultMode = 420;
    expect(guard(p)).to.deep.equal({ errors: [], warnings: [] });
    // A default field at another value is a difference.
    envoy.readinessProbe.successThreshold = 2;
    expect(guard(p).forbidden).to.include('container "envoy": readinessProbe.successThreshold is 2, meshgate renders 1');
  });

  it('does not accept other mounts in the proxy (a mount over its binary would replace it)', () => {
    const p = injectedCurl();
    envoyOf(p).volumeMounts.push({ name: 'evil', mountPath: '/usr/local/bin/envoy', subPath: 'envoy' });
    expect(guard(p).forbidden).to.include('container "envoy": volumeMounts differs from what meshgate renders');
  });

  it('in native mode, keeps the proxy and the init container in the first two init-container slots', () => {
    const settings = { ...SETTINGS, sidecarMode: 'native' as const };
    const p = mutated(pod((x) => (x.spec.initContainers = [{ name: 'setup', image: 'busybox' }])), settings);
    expect(guard(p, settings)).to.deep.equal({ errors: [], warnings: [] });
    p.spec.initContainers.unshift({ name: 'early', image: 'busybox' });
    expect(guard(p, settings).forbidden).to.include('init container "osm-init": is initContainers[1], meshgate renders initContainers[0]');
  });

  it('leaves pods meshgate would not inject alone: hostNetwork, namespace not injecting', () => {
    expect(guard(pod((p) => (p.spec.hostNetwork = true))).forbidden).to.equal(undefined);
    const labelOnly = meshState({ namespaces: { curl: { labels: { 'openservicemesh.io/monitored-by': 'osm' } } } });
    expect(guard(curlPod(), {}, labelOnly)).to.deep.equal({ errors: [], warnings: [] });
    // ... but a container named envoy there is an app container like any other.
    const lookalike = pod((p) => p.spec.containers.push({ name: 'envoy', image: 'busybox', securityContext: { runAsUser: 1500 } }));
    expect(guard(lookalike, {}, labelOnly).forbidden).to.include('container "envoy": securityContext.runAsUser is 1500');
  });

  it('denies a bad annotation the mutating webhook would have refused', () => {
    const p = pod((x) => (x.metadata.annotations = { 'openservicemesh.io/outbound-port-exclusion-list': '99999' }));
    expect(guard(p).forbidden).to.include('outbound-port-exclusion-list');
  });
});

describe('injector: pod guard, opt-out (issue #15)', () => {
  const optOut = () => pod((p) => (p.metadata.annotations = { 'openservicemesh.io/sidecar-injection': 'disabled' }));
  const guard = (p: Json, podOptOut: MeshgateSettings['podOptOut'], state = curlMesh()) => checkPodBypass(podAdmission(p), state, { ...SETTINGS, podOptOut });

  it('allow: admitted silently (OSM)', () => {
    expect(guard(optOut(), 'allow')).to.deep.equal({ errors: [], warnings: [] });
  });
  it('warn (the default): admitted with a kubectl warning', () => {
    expect(DEFAULT_SETTINGS.podOptOut).to.equal('warn');
    const out = guard(optOut(), 'warn');
    expect(out.forbidden).to.equal(undefined);
    expect(out.warnings).to.deep.equal([
      'pod opts out of the sidecar (openservicemesh.io/sidecar-injection: "disabled"): its egress bypasses the mesh\'s egress control (--pod-opt-out deny refuses such pods)',
    ]);
  });
  it('deny: 403 naming the annotation and the setting', () => {
    expect(guard(optOut(), 'deny').forbidden).to.equal(
      'pod opts out of the sidecar (openservicemesh.io/sidecar-injection: "disabled") in namespace "curl", where the mesh controls egress: remove the annotation (or set --pod-opt-out warn)',
    );
  });
  it("the namespace's own opt-out and the ignore label keep working", () => {
    const nsOff = meshState({ namespaces: { curl: { labels: { 'openservicemesh.io/monitored-by': 'osm' }, annotations: { 'openservicemesh.io/sidecar-injection': 'disabled' } } } });
    expect(guard(optOut(), 'deny', nsOff)).to.deep.equal({ errors: [], warnings: [] });
    expect(guard(curlPod(), 'deny', nsOff)).to.deep.equal({ errors: [], warnings: [] });
    const ignored = meshState({ namespaces: { curl: { labels: { 'openservicemesh.io/monitored-by': 'osm', 'openservicemesh.io/ignore': 'true' }, annotations: { 'openservicemesh.io/sidecar-injection': 'enabled' } } } });
    expect(guard(optOut(), 'deny', ignored)).to.deep.equal({ errors: [], warnings: [] });
  });
  it('an opted-out pod with a look-alike envoy gets no proxy powers', () => {
    const p = optOut();
    p.spec.containers.push({ name: 'envoy', image: 'busybox', securityContext: { runAsUser: 1500 } });
    const out = guard(p, 'allow');
    expect(out.forbidden).to.include('container "envoy": securityContext.runAsUser is 1500');
  });
});

describe('injector: pod guard on UPDATE and pods/ephemeralcontainers (issue #15)', () => {
  const update = (before: Json, after: Json, subResource?: string) =>
    checkPodBypass({ ...podAdmission(after), operation: 'UPDATE', oldObject: before, ...(subResource ? { subResource } : {}) }, curlMesh(), SETTINGS);

  it("denies changing the proxy's or the init container's image after admission", () => {
    const before = mutated(curlPod());
    const after = structuredClone(before);
    after.spec.containers[1].image = 'busybox';
    expect(update(before, after).forbidden).to.include('container "envoy": image changed after admission (meshgate injected "envoyproxy/envoy-distroless:v1.34.1", now "busybox")');
    const init = structuredClone(before);
    init.spec.initContainers[0].image = 'busybox';
    expect(update(before, init).forbidden).to.include('init container "osm-init": image changed after admission');
  });

  it('allows other updates: labels, an app image, pods never injected', () => {
    const before = mutated(curlPod());
    const after = structuredClone(before);
    after.metadata.labels.extra = 'x';
    after.spec.containers[0].image = 'curlimages/curl:8.10.1';
    expect(update(before, after)).to.deep.equal({ errors: [], warnings: [] });
    const plain = pod((p) => p.spec.containers.push({ name: 'envoy', image: 'a' }));
    const changed = structuredClone(plain);
    changed.spec.containers[1].image = 'b';
    expect(update(plain, changed)).to.deep.equal({ errors: [], warnings: [] });
  });

  const EPHEMERAL: [string, Json, string][] = [
    ['runs as the proxy UID', { runAsUser: 1500 }, 'ephemeral container "debugger": securityContext.runAsUser is 1500, the proxy\'s UID, whose traffic is never intercepted'],
    ['is privileged', { privileged: true }, 'ephemeral container "debugger": securityContext.privileged is true'],
    ['adds NET_ADMIN', { capabilities: { add: ['NET_ADMIN'] } }, 'ephemeral container "debugger": securityContext.capabilities.add contains NET_ADMIN'],
    ['adds NET_RAW', { capabilities: { add: ['NET_RAW'] } }, 'ephemeral container "debugger": securityContext.capabilities.add contains NET_RAW'],
  ];
  for (const [name, securityContext, says] of EPHEMERAL) {
    it(`denies an ephemeral container that ${name}`, () => {
      const before = mutated(curlPod());
      const after = structuredClone(before);
      after.spec.ephemeralContainers = [{ name: 'debugger', image: 'busybox', targetContainerName: 'curl', securityContext }];
      const out = update(before, after, 'ephemeralcontainers');
      expect(out.forbidden).to.include(says);
      expect(out.forbidden).to.include('(or set --bypass-guard warn)');
    });
  }

  it('allows an ordinary ephemeral container, and does not judge the ones already there again', () => {
    const before = mutated(curlPod());
    const after = structuredClone(before);
    after.spec.ephemeralContainers = [{ name: 'debugger', image: 'busybox', securityContext: { runAsUser: 1000 } }];
    expect(update(before, after, 'ephemeralcontainers')).to.deep.equal({ errors: [], warnings: [] });
    const old = structuredClone(before);
    old.spec.ephemeralContainers = [{ name: 'root-debugger', image: 'busybox', securityContext: { privileged: true } }];
    const next = structuredClone(old);
    next.spec.ephemeralContainers.push({ name: 'debugger', image: 'busybox' });
    expect(update(old, next, 'ephemeralcontainers', )).to.deep.equal({ errors: [], warnings: [] });
  });
});

describe('injector: pod guard on deep input', () => {
  it('compares containers nested 100,000 levels deep (a body a client can send) without overflowing the stack', () => {
    let deep: Json = {};
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    const lookalike = pod((p) => p.spec.containers.push({ name: 'envoy', image: 'envoyproxy/envoy-distroless:v1.34.1', securityContext: deep }));
    expect(checkPodBypass(podAdmission(lookalike), curlMesh(), SETTINGS).forbidden).to.include('container "envoy": ');
    // Both sides share the deep field, so the comparison has to walk it.
    const before = mutated(curlPod());
    const after = structuredClone(before);
    before.spec.containers[1].env = [deep];
    after.spec.containers[1].env = [deep];
    after.spec.containers[1].image = 'busybox';
    const update = checkPodBypass({ ...podAdmission(after), operation: 'UPDATE', oldObject: before }, curlMesh(), SETTINGS);
    expect(update.forbidden).to.include('container "envoy": image changed after admission');
  });
});
