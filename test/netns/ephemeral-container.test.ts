/**
 * kubectl debug on an injected pod (issue #15): an ephemeral container joins the pod's network
 * namespace after the iptables rules are in place. The pod guard allows one that runs as another
 * UID and adds no capability — and here, through the kernel's netfilter, its connection goes
 * through the interception rules like the app's. One the guard refuses (UID 1500) would not be
 * intercepted, which is why it is refused.
 */
import { expect } from 'chai';
import { checkPodBypass } from '../../src/injector/index.js';
import { resolveProfile } from '../../src/profile.js';
import { storeFromObjects } from '../../src/cluster/state-dir.js';
import { DEFAULT_SETTINGS, type MeshgateSettings } from '../../src/settings.js';
import { demoBaseState } from '../support/netns/demo-state.js';
import { injectCurlPod } from '../support/netns/injection.js';
import { ADDR, NetnsRig, PROXY_UID, assertRoot, type ConnectResult } from '../support/netns/rig.js';

type Json = Record<string, any>;

describe('ephemeral container allowed by the pod guard: intercepted like the app', function () {
  this.timeout(60_000);
  before(assertRoot);

  const profile = resolveProfile('osm');
  const settings: MeshgateSettings = { ...DEFAULT_SETTINGS, clusterCIDRs: [ADDR.v4.clusterCIDR, ADDR.v6.clusterCIDR] };
  const state = demoBaseState('osm');
  let rig: NetnsRig | undefined;
  let injected: Json;

  /** The guard's answer to `kubectl debug` adding `debugger` with this security context. */
  const debugWith = (securityContext: Json) => {
    const after = structuredClone(injected);
    after.spec.ephemeralContainers = [{ name: 'debugger', image: 'busybox', targetContainerName: 'curl', securityContext }];
    return checkPodBypass(
      {
        uid: 'e1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'UPDATE', subResource: 'ephemeralcontainers',
        namespace: 'curl', name: 'curl-1', object: after, oldObject: injected, dryRun: false,
      },
      storeFromObjects(profile, state),
      settings,
    );
  };

  before(async () => {
    injected = injectCurlPod<Json>('osm', state, settings);
    rig = await NetnsRig.create();
    const init = injected.spec.initContainers.find((c: Json) => c.name === profile.initContainerName);
    const r = await rig.runCommand(init.command);
    expect(r.code, `${r.stdout}\n${r.stderr}`).to.equal(0);
    await rig.startProxy();
  });
  after(async () => rig?.destroy());

  const toProxy = (host: string, port: number): ConnectResult => ({ ok: true, reply: `proxy original_dst=${host.includes(':') ? `[${host}]` : host}:${port}` });

  it('the guard allows a debugger that runs as UID 1000 and adds nothing, and its egress lands on the proxy', async () => {
    const uid = 1000;
    expect(debugWith({ runAsUser: uid })).to.deep.equal({ errors: [], warnings: [] });
    // The ephemeral container is one more process in the pod's network namespace, under its own UID.
    expect(await rig!.connect(ADDR.v4.external, 80, uid)).to.deep.equal(toProxy(ADDR.v4.external, 80));
    expect(await rig!.connect(ADDR.v6.external, 443, uid)).to.deep.equal(toProxy(ADDR.v6.external, 443));
  });

  it('the guard refuses a debugger running as the proxy UID, whose egress would skip the proxy', async () => {
    expect(debugWith({ runAsUser: PROXY_UID }).forbidden).to.include('ephemeral container "debugger": securityContext.runAsUser is 1500');
    expect(await rig!.connect(ADDR.v4.external, 80, PROXY_UID)).to.deep.equal({ ok: true, reply: `ext host=${ADDR.v4.external} port=80` });
  });
});
