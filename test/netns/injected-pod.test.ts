/**
 * End to end from admission to the kernel: the seeds' curl pod in an enrolled `curl` namespace
 * (as `meshgate namespace add curl` leaves it; MeshConfig with enableEgress false) goes through
 * mutatePod, the JSON Patch is applied, and the injected osm-init container's command runs
 * verbatim in the pod network namespace. The app's egress then lands on 15001, in-cluster traffic
 * goes direct, and with no outbound listener (egress closed) the app's connection is refused.
 */
import { expect } from 'chai';
import { resolveProfile, PROXY_UID as MESH_PROXY_UID } from '../../src/profile.js';
import { DEFAULT_SETTINGS, type MeshgateSettings } from '../../src/settings.js';
import { demoBaseState } from '../support/netns/demo-state.js';
import { injectCurlPod } from '../support/netns/injection.js';
import { ADDR, APP_UID, NetnsRig, PROXY_UID, assertRoot, type ConnectResult } from '../support/netns/rig.js';

interface Container {
  name: string;
  command?: string[];
  securityContext?: { runAsUser?: number };
}
interface PodShape {
  spec: { containers: Container[]; initContainers?: Container[] };
}

describe('injected curl pod: osm-init script through the kernel', function () {
  this.timeout(60_000);
  before(assertRoot);

  const profile = resolveProfile('osm');
  const settings: MeshgateSettings = {
    ...DEFAULT_SETTINGS,
    // The rig's "cluster" ranges stand in for the pod and service CIDRs.
    clusterCIDRs: [ADDR.v4.clusterCIDR, ADDR.v6.clusterCIDR],
    iptablesBackend: 'auto',
  };
  let rig: NetnsRig | undefined;
  let injected: PodShape;

  before(async () => {
    injected = injectCurlPod<PodShape>('osm', demoBaseState('osm'), settings);
    rig = await NetnsRig.create();
  });
  after(async () => rig?.destroy());

  const initContainer = () => {
    const c = injected.spec.initContainers?.find((x) => x.name === profile.initContainerName);
    expect(c, `no ${profile.initContainerName} init container`).to.not.equal(undefined);
    return c!;
  };

  it('injects osm-init with a /bin/sh -c script and a proxy running as UID 1500', () => {
    const command = initContainer().command ?? [];
    expect(command.slice(0, 2)).to.deep.equal(['/bin/sh', '-c']);
    expect(command).to.have.length(3);
    const envoy = injected.spec.containers.find((c) => c.name === 'envoy');
    expect(envoy?.securityContext?.runAsUser).to.equal(MESH_PROXY_UID);
    expect(MESH_PROXY_UID).to.equal(PROXY_UID);
  });

  it("runs osm-init's command verbatim and sends the app's egress to 15001", async () => {
    const r = await rig!.runCommand(initContainer().command!);
    expect(r.code, `${r.stdout}\n${r.stderr}`).to.equal(0);
    await rig!.startProxy();
    const toProxy = (host: string, port: number): ConnectResult => ({
      ok: true,
      reply: `proxy original_dst=${host.includes(':') ? `[${host}]` : host}:${port}`,
    });
    expect(await rig!.connect(ADDR.v4.external, 443, APP_UID)).to.deep.equal(toProxy(ADDR.v4.external, 443));
    expect(await rig!.connect(ADDR.v6.external, 80, APP_UID)).to.deep.equal(toProxy(ADDR.v6.external, 80));
    expect(await rig!.connect(ADDR.v4.cluster, 80, APP_UID)).to.deep.equal({ ok: true, reply: `ext host=${ADDR.v4.cluster} port=80` });
  });

  it('with egress closed (no outbound listener) the app is refused and curl exits 7, in-cluster still flows', async () => {
    await rig!.stopProxy();
    expect(await rig!.connect(ADDR.v4.external, 80, APP_UID)).to.deep.equal({ ok: false, error: 'ECONNREFUSED' });
    const curl = await rig!.exec(['curl', '-sSI', '--max-time', '3', `http://${ADDR.v4.external}:80/get`], APP_UID);
    expect(curl.code, curl.stderr).to.equal(7);
    expect(await rig!.connect(ADDR.v4.cluster, 80, APP_UID)).to.deep.equal({ ok: true, reply: `ext host=${ADDR.v4.cluster} port=80` });
  });
});
