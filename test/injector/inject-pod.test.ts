import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyPatch } from 'rfc6902';
import { Pod as K8sPod } from 'kubernetes-models/v1';
import { parse, stringify } from 'yaml';
import { mutatePod, uninject, initScriptOf } from '../../src/injector/index.js';
import { injectPod, planInjection } from '../../src/injector/inject-pod.js';
import { renderInterceptionScript } from '../../src/injector/iptables/script.js';
import type { Pod } from '../../src/injector/pod.js';
import type { ProfileName } from '../../src/profile.js';
import type { MeshConfigSpec } from '../../src/state/types.js';
import type { MeshgateSettings, SidecarMode } from '../../src/settings.js';
import type { JsonPatchOperation } from '../../src/vocabulary/admission.js';
import { mayRewriteGoldens } from '../support/golden.js';
import { curlMesh, curlPod, enrolled, meshState, podAdmission, profileOf, SETTINGS } from './fixtures.js';

const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'golden');
const SCRIPT_PLACEHOLDER = '<interception script: renderInterceptionScript(), checked separately>';
type Json = Record<string, any>;

/** Applies the webhook's patch with a second, strict RFC 6902 implementation; fails on any error. */
function applyStrict(original: unknown, patch: JsonPatchOperation[]): Json {
  const doc = structuredClone(original) as Json;
  const results = applyPatch(doc, patch as Parameters<typeof applyPatch>[1]);
  const errors = results.filter((r) => r !== null);
  expect(errors, `patch failed: ${errors.map(String).join('; ')}`).to.deep.equal([]);
  return doc;
}

function injectVia(pod: unknown, state = curlMesh(), settings: MeshgateSettings = SETTINGS): { result: Json; warnings: string[] } {
  const out = mutatePod(podAdmission(pod), state, settings);
  if (out.action !== 'patch') throw new Error(`expected a patch, got ${JSON.stringify(out)}`);
  return { result: applyStrict(pod, out.patch), warnings: out.warnings };
}

/** A valid pod: Kubernetes' OpenAPI schema, plus the rules the schema cannot express. */
function expectValidPod(pod: Json): void {
  new K8sPod(pod as ConstructorParameters<typeof K8sPod>[0]).validate();
  const all = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  const names = all.map((c: Json) => c.name);
  expect(new Set(names).size, `container names ${names.join(',')}`).to.equal(names.length);
  for (const c of all) for (const p of c.ports ?? []) if (p.name) expect(p.name.length).to.be.at.most(15);
  for (const c of all) {
    const sc = c.securityContext ?? {};
    if (sc.privileged === true) expect(sc.allowPrivilegeEscalation).to.not.equal(false);
  }
}

function forGolden(pod: Json): Json {
  const copy = structuredClone(pod);
  for (const c of [...copy.spec.containers, ...(copy.spec.initContainers ?? [])]) {
    if (c.command?.[0] === '/bin/sh' && c.command?.[1] === '-c' && /-init$/.test(c.name)) c.command[2] = SCRIPT_PLACEHOLDER;
  }
  return copy;
}

const MESH_CONFIGS: Record<ProfileName, MeshConfigSpec> = {
  osm: {
    sidecar: { logLevel: 'error', sidecarImage: 'envoyproxy/envoy-distroless:v1.22.2', enablePrivilegedInitContainer: false },
    traffic: { enableEgress: true, outboundIPRangeExclusionList: [], outboundPortExclusionList: [] },
  },
  fsm: {
    sidecar: { logLevel: 'debug', resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } } },
    traffic: { enableEgress: false },
  },
};

describe('injector: injected pods (SPEC §5)', () => {
  describe('golden pods for the seeds\' curl Deployment', () => {
    for (const profile of ['osm', 'fsm'] as const) {
      for (const mode of ['classic', 'native'] as const) {
        it(`${profile} ${mode}`, () => {
          const state = curlMesh(profile, MESH_CONFIGS[profile]);
          const settings = { ...SETTINGS, sidecarMode: mode };
          const original = curlPod();
          const { result } = injectVia(original, state, settings);
          expect(original, 'the input is not modified').to.deep.equal(curlPod());
          expectValidPod(result);
          // The init script is H4's renderer's output for exactly these options.
          const init = [...result.spec.initContainers].find((c: Json) => c.name === profileOf(profile).initContainerName);
          const plan = planInjection(curlPod() as unknown as Pod, { profile: state.profile, meshConfig: state.meshConfig(), settings, namespace: 'curl' });
          if (!plan.ok) throw new Error(plan.message);
          expect(init.command).to.deep.equal(['/bin/sh', '-c', renderInterceptionScript(plan.plan.interception)]);
          expect(plan.plan.interception).to.deep.equal({
            chainPrefix: profile === 'osm' ? 'OSM_' : 'FSM_',
            proxyUid: 1500,
            outboundPort: 15001,
            clusterCIDRs: ['10.244.0.0/16', '10.96.0.0/12'],
            excludeCIDRs: [],
            includeCIDRs: [],
            excludePorts: [],
            excludeInterfaces: [],
            backend: 'auto',
          });

          const file = join(GOLDEN_DIR, `curl-${profile}-${mode}.yaml`);
          const actual = stringify(forGolden(result), { lineWidth: 0 });
          if (mayRewriteGoldens('UPDATE_GOLDEN')) writeFileSync(file, actual);
          expect(parse(actual)).to.deep.equal(parse(readFileSync(file, 'utf8')), `golden ${file} (regenerate with UPDATE_GOLDEN=1)`);
        });
      }
    }
  });

  describe('container layout', () => {
    const ownInit = { name: 'wait-for-db', image: 'busybox', command: ['sh', '-c', 'true'] };
    function podWithInit(): Json {
      const p = curlPod() as Json;
      p.spec.initContainers = [ownInit];
      return p;
    }

    it('classic: osm-init after the pod\'s own init containers, envoy appended, with a warning about them', () => {
      const { result, warnings } = injectVia(podWithInit());
      expect(result.spec.initContainers.map((c: Json) => c.name)).to.deep.equal(['wait-for-db', 'osm-init']);
      expect(result.spec.containers.map((c: Json) => c.name)).to.deep.equal(['curl', 'envoy']);
      expect(result.spec.containers[1]).to.not.have.property('restartPolicy');
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.include('wait-for-db').and.include('meshgate.io/sidecar-mode: native');
      expect(warnings[0]!.length).to.be.at.most(256);
      expectValidPod(result);
    });

    it('classic with no init containers of its own: no warning', () => {
      expect(injectVia(curlPod()).warnings).to.deep.equal([]);
    });

    it('native (mesh-wide): osm-init, then envoy with restartPolicy Always and a startup probe, before the pod\'s own', () => {
      const { result, warnings } = injectVia(podWithInit(), curlMesh(), { ...SETTINGS, sidecarMode: 'native' });
      expect(result.spec.initContainers.map((c: Json) => c.name)).to.deep.equal(['osm-init', 'envoy', 'wait-for-db']);
      expect(result.spec.initContainers[1].restartPolicy).to.equal('Always');
      expect(result.spec.initContainers[1].startupProbe.httpGet).to.deep.equal({ path: '/ready', port: 15010 });
      expect(result.spec.containers.map((c: Json) => c.name)).to.deep.equal(['curl']);
      expect(warnings).to.deep.equal([]);
      expectValidPod(result);
    });

    it("classic: a Job's pod (owned by a batch Job) is warned that it will never complete, naming native mode's settings", () => {
      const jobPod = (): Json => {
        const p = curlPod() as Json;
        p.metadata.ownerReferences = [{ apiVersion: 'batch/v1', kind: 'Job', name: 'nightly-29000000', uid: 'u', controller: true, blockOwnerDeletion: true }];
        return p;
      };
      const { warnings } = injectVia(jobPod());
      expect(warnings).to.deep.equal([
        "classic sidecar mode: the envoy sidecar never exits, so this Job's pods never complete; use native sidecar mode (Kubernetes >= 1.29): " +
          'annotate the pod template meshgate.io/sidecar-mode: native, or use meshgate serve --sidecar-mode native',
      ]);
      expect(warnings[0]!.length).to.be.at.most(256);
      // Native (mesh-wide or by annotation): the kubelet stops the sidecar, no warning.
      expect(injectVia(jobPod(), curlMesh(), { ...SETTINGS, sidecarMode: 'native' }).warnings).to.deep.equal([]);
      const annotated = jobPod();
      annotated.metadata.annotations = { 'meshgate.io/sidecar-mode': 'native' };
      expect(injectVia(annotated).warnings).to.deep.equal([]);
      // A ReplicaSet's pod, or a "Job" of another API group, is no batch Job.
      const rs = curlPod() as Json;
      rs.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'curl-54ccc6954c', uid: 'u', controller: true }];
      expect(injectVia(rs).warnings).to.deep.equal([]);
      const other = curlPod() as Json;
      other.metadata.ownerReferences = [{ apiVersion: 'example.com/v1', kind: 'Job', name: 'j', uid: 'u' }];
      expect(injectVia(other).warnings).to.deep.equal([]);
      // Offline: the template's kind says it, and the hint names `meshgate inject`.
      const offline = injectPod(curlPod() as Pod, { profile: profileOf('osm'), meshConfig: undefined, settings: SETTINGS, namespace: 'curl', templateOf: 'CronJob' });
      expect(offline.kind === 'injected' && offline.warnings).to.deep.equal([
        "classic sidecar mode: the envoy sidecar never exits, so this CronJob's pods never complete; use native sidecar mode (Kubernetes >= 1.29): " +
          'annotate the pod template meshgate.io/sidecar-mode: native, or use meshgate inject --sidecar-mode native',
      ]);
      const deployment = injectPod(jobPod() as Pod, { profile: profileOf('osm'), meshConfig: undefined, settings: SETTINGS, namespace: 'curl', templateOf: 'Deployment' });
      expect(deployment.kind === 'injected' && deployment.warnings).to.deep.equal([]);
    });

    it('per-pod annotation meshgate.io/sidecar-mode overrides the mesh-wide mode both ways', () => {
      const native = podWithInit();
      native.metadata.annotations = { 'meshgate.io/sidecar-mode': 'Native' };
      expect(injectVia(native).result.spec.initContainers[1].name).to.equal('envoy');
      const classic = podWithInit();
      classic.metadata.annotations = { 'meshgate.io/sidecar-mode': 'classic' };
      const r = injectVia(classic, curlMesh(), { ...SETTINGS, sidecarMode: 'native' }).result;
      expect(r.spec.containers.map((c: Json) => c.name)).to.deep.equal(['curl', 'envoy']);
    });

    it('the sidecar: UID 1500, non-root, no escalation, read-only root, all capabilities dropped, probe kubelet can reach', () => {
      const envoy = injectVia(curlPod()).result.spec.containers[1];
      expect(envoy.securityContext).to.deep.equal({
        runAsUser: 1500,
        runAsGroup: 1500,
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(envoy.readinessProbe.httpGet).to.deep.equal({ path: '/ready', port: 15010 });
      expect(envoy.ports).to.deep.equal([{ name: 'proxy-metrics', containerPort: 15010, protocol: 'TCP' }]);
      expect(envoy.command).to.deep.equal(['envoy']);
      expect(envoy.args[0]).to.equal('--config-yaml');
      expect(JSON.parse(envoy.args[1]).admin.address.socket_address).to.deep.equal({ address: '127.0.0.1', port_value: 15000 });
      expect(envoy.args.slice(2)).to.deep.equal(['--log-level', 'error', '--disable-hot-restart', '--drain-time-s', '5']);
    });

    it('the token: a projected ServiceAccount token (audience meshgate, 1 h), mounted read-only into the proxy only', () => {
      for (const mode of ['classic', 'native'] as const) {
        const pod = podWithInit();
        pod.spec.volumes = [{ name: 'data', emptyDir: {} }];
        pod.spec.containers[0].volumeMounts = [{ name: 'data', mountPath: '/data' }];
        const { result } = injectVia(pod, curlMesh(), { ...SETTINGS, sidecarMode: mode });
        expectValidPod(result);
        expect(result.spec.volumes).to.deep.equal([
          { name: 'data', emptyDir: {} },
          { name: 'meshgate-token', projected: { sources: [{ serviceAccountToken: { audience: 'meshgate', expirationSeconds: 3600, path: 'token' } }] } },
        ]);
        const all: Json[] = [...result.spec.initContainers, ...result.spec.containers];
        const mounting = all.filter((c) => (c.volumeMounts ?? []).some((m: Json) => m.name === 'meshgate-token')).map((c) => c.name);
        expect(mounting, mode).to.deep.equal(['envoy']);
        const envoy = all.find((c) => c.name === 'envoy')!;
        expect(envoy.volumeMounts).to.deep.equal([{ name: 'meshgate-token', mountPath: '/var/run/secrets/meshgate.io', readOnly: true }]);
        expect(JSON.parse(result.metadata.annotations['meshgate.io/status']).volumes).to.deep.equal(['meshgate-token']);
      }
    });

    it('automountServiceAccountToken: false still gets the token volume (it is the pod\'s own projected volume, not the API server\'s)', () => {
      const pod = curlPod() as Json;
      pod.spec.automountServiceAccountToken = false;
      const { result } = injectVia(pod);
      expect(result.spec.automountServiceAccountToken).to.equal(false);
      expect(result.spec.volumes.map((v: Json) => v.name)).to.deep.equal(['meshgate-token']);
    });

    it('denies a pod that already has a volume named meshgate-token', () => {
      const pod = curlPod() as Json;
      pod.spec.volumes = [{ name: 'meshgate-token', emptyDir: {} }];
      const out = mutatePod(podAdmission(pod), curlMesh(), SETTINGS);
      expect(out.action).to.equal('deny');
      if (out.action === 'deny') expect(out.message).to.equal('pod already has a volume named "meshgate-token", which the mesh injects: rename the volume');
    });

    it('the init container: root with NET_ADMIN and NET_RAW only; privileged only when the MeshConfig asks', () => {
      const init = injectVia(curlPod()).result.spec.initContainers[0];
      expect(init.securityContext).to.deep.equal({
        runAsUser: 0,
        runAsNonRoot: false,
        capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
        allowPrivilegeEscalation: false,
      });
      const state = curlMesh('osm', { sidecar: { enablePrivilegedInitContainer: true } });
      const { result } = injectVia(curlPod(), state);
      expect(result.spec.initContainers[0].securityContext.privileged).to.equal(true);
      expect(result.spec.initContainers[0].securityContext).to.not.have.property('allowPrivilegeEscalation');
      expectValidPod(result);
    });

    it('images, resources and log level come from the MeshConfig, else the settings', () => {
      const state = curlMesh('osm', {
        sidecar: {
          sidecarImage: 'registry.example/envoy:v1',
          initContainerImage: 'registry.example/init:v1',
          logLevel: 'WARN',
          resources: { limits: { cpu: '1', memory: '512Mi' } },
        },
      });
      const { result } = injectVia(curlPod(), state);
      const envoy = result.spec.containers[1];
      expect(envoy.image).to.equal('registry.example/envoy:v1');
      expect(envoy.resources).to.deep.equal({ limits: { cpu: '1', memory: '512Mi' } });
      expect(envoy.args.slice(2, 4)).to.deep.equal(['--log-level', 'warn']);
      expect(result.spec.initContainers[0].image).to.equal('registry.example/init:v1');
      const defaults = injectVia(curlPod(), curlMesh('osm', {}), { ...SETTINGS, defaultSidecarImage: 'x/envoy:1', defaultInitImage: 'x/init:1' });
      expect(defaults.result.spec.containers[1].image).to.equal('x/envoy:1');
      expect(defaults.result.spec.containers[1]).to.not.have.property('resources');
      expect(defaults.result.spec.initContainers[0].image).to.equal('x/init:1');
    });

    it('an unknown MeshConfig log level falls back to "error" with a warning', () => {
      const { result, warnings } = injectVia(curlPod(), curlMesh('osm', { sidecar: { logLevel: 'verbose' } }));
      expect(result.spec.containers[1].args.slice(2, 4)).to.deep.equal(['--log-level', 'error']);
      expect(warnings.join()).to.include('"verbose"');
    });

    it('the status annotation lists what was added', () => {
      const classic = injectVia(curlPod()).result;
      expect(JSON.parse(classic.metadata.annotations['meshgate.io/status'])).to.deep.equal({
        version: '0.1.0',
        containers: ['envoy'],
        initContainers: ['osm-init'],
        volumes: ['meshgate-token'],
      });
      const native = injectVia(curlPod(), curlMesh(), { ...SETTINGS, sidecarMode: 'native' }).result;
      expect(JSON.parse(native.metadata.annotations['meshgate.io/status'])).to.deep.include({ containers: [], initContainers: ['osm-init', 'envoy'] });
    });

    it('merges exclusions from the MeshConfig and the pod, and the backend annotation, into the script options', () => {
      const state = curlMesh('osm', {
        traffic: {
          outboundIPRangeExclusionList: ['169.254.169.254/32', 'fd00:ec2::254/128'],
          outboundPortExclusionList: [6379],
          networkInterfaceExclusionList: ['eth1'],
        },
      });
      const pod = curlPod() as Json;
      pod.metadata.annotations = {
        'openservicemesh.io/outbound-ip-range-exclusion-list': '10.1.0.0/16, 2001:db8::/32',
        'openservicemesh.io/outbound-ip-range-inclusion-list': '203.0.113.0/24',
        'openservicemesh.io/outbound-port-exclusion-list': '5432,6379',
        'meshgate.io/iptables-backend': 'legacy',
      };
      const plan = planInjection(pod as Pod, { profile: state.profile, meshConfig: state.meshConfig(), settings: SETTINGS, namespace: 'curl' });
      if (!plan.ok) throw new Error(plan.message);
      expect(plan.plan.interception).to.deep.include({
        excludeCIDRs: ['169.254.169.254/32', '10.1.0.0/16', 'fd00:ec2::254/128', '2001:db8::/32'],
        includeCIDRs: ['203.0.113.0/24'],
        excludePorts: [5432, 6379],
        excludeInterfaces: ['eth1'],
        backend: 'legacy',
      });
      expect(initScriptOf(pod as Pod, state, SETTINGS, 'curl')).to.equal(renderInterceptionScript(plan.plan.interception));
    });
  });

  it('meshgate.io/sidecar-image runs this pod\'s proxy from that image, over the MeshConfig\'s', () => {
    const pod = curlPod() as Json;
    pod.metadata.annotations = { 'meshgate.io/sidecar-image': 'registry.example.com/envoy:v1.35.0-canary' };
    const state = curlMesh('osm', { sidecar: { sidecarImage: 'envoyproxy/envoy:v1.34.1' } });
    const out = mutatePod(podAdmission(pod), state, SETTINGS);
    expect(out.action).to.equal('patch');
    if (out.action !== 'patch') return;
    const envoy = out.patch.find((op) => op.path === '/spec/containers/1')?.value as { name: string; image: string };
    expect(envoy).to.include({ name: 'envoy', image: 'registry.example.com/envoy:v1.35.0-canary' });
  });

  describe('the patch applies to request.object as sent (RFC 6902, checked with rfc6902)', () => {
    const shapes: Record<string, () => Json> = {
      'no labels and no annotations': () => {
        const p = curlPod() as Json;
        delete p.metadata.labels;
        return p;
      },
      'existing annotations': () => {
        const p = curlPod() as Json;
        p.metadata.annotations = { 'prometheus.io/scrape': 'true', 'a/b~c': 'x' };
        return p;
      },
      'empty annotations map': () => {
        const p = curlPod() as Json;
        p.metadata.annotations = {};
        return p;
      },
      'own init containers, volumes and a pod securityContext': () => {
        const p = curlPod() as Json;
        p.spec.initContainers = [{ name: 'setup', image: 'busybox' }];
        p.spec.volumes = [{ name: 'data', emptyDir: {} }];
        p.spec.securityContext = { fsGroup: 2000 };
        return p;
      },
      'several app containers with ports': () => {
        const p = curlPod() as Json;
        p.spec.containers.push({ name: 'web', image: 'nginx', ports: [{ name: 'http', containerPort: 80 }] });
        return p;
      },
      'a named pod with a namespace in metadata': () => {
        const p = curlPod() as Json;
        p.metadata = { name: 'curl', namespace: 'curl' };
        return p;
      },
    };
    for (const [name, make] of Object.entries(shapes)) {
      for (const mode of ['classic', 'native'] as SidecarMode[]) {
        it(`${name} (${mode})`, () => {
          const original = make();
          const settings = { ...SETTINGS, sidecarMode: mode };
          const { result } = injectVia(original, curlMesh(), settings);
          const direct = injectPod(original as unknown as Pod, { profile: profileOf('osm'), meshConfig: curlMesh().meshConfig(), settings, namespace: 'curl' });
          if (direct.kind !== 'injected') throw new Error(direct.message);
          expect(result).to.deep.equal(direct.pod);
          expectValidPod(result);
          // Round trip: uninject(inject(p)) is p.
          const back = uninject(result as Pod);
          expect(back.kind).to.equal('uninjected');
          // An empty annotations map is indistinguishable from one injection created, so it goes too.
          const expected = structuredClone(original);
          if (expected.metadata?.annotations && Object.keys(expected.metadata.annotations).length === 0) delete expected.metadata.annotations;
          if (back.kind === 'uninjected') expect(back.pod).to.deep.equal(expected);
        });
      }
    }

    it('the add of the status annotation creates the annotations map when the pod has none', () => {
      const out = mutatePod(podAdmission(curlPod()), curlMesh(), SETTINGS);
      if (out.action !== 'patch') throw new Error('expected patch');
      const annotationOps = out.patch.filter((o) => o.path.startsWith('/metadata/annotations'));
      expect(annotationOps).to.deep.equal([
        { op: 'add', path: '/metadata/annotations', value: { 'meshgate.io/status': JSON.parse(JSON.stringify(annotationOps[0]!.value))['meshgate.io/status'] } },
      ]);
    });
  });

  describe('idempotence and refusals', () => {
    it('injecting an injected pod is a no-op (skip, no patch)', () => {
      for (const mode of ['classic', 'native'] as SidecarMode[]) {
        const settings = { ...SETTINGS, sidecarMode: mode };
        const once = injectVia(curlPod(), curlMesh(), settings).result;
        const twice = mutatePod(podAdmission(once), curlMesh(), settings);
        expect(twice.action).to.equal('skip');
        expect(twice).to.not.have.property('patch');
      }
    });

    it('the same pod gives the same patch every time (pure)', () => {
      const a = mutatePod(podAdmission(curlPod()), curlMesh(), SETTINGS);
      const b = mutatePod(podAdmission(curlPod()), curlMesh(), SETTINGS);
      expect(a).to.deep.equal(b);
    });

    it('denies a pod that already has a container named like the init container', () => {
      for (const where of ['containers', 'initContainers']) {
        const pod = curlPod() as Json;
        pod.spec[where] = [...(pod.spec[where] ?? []), { name: 'osm-init', image: 'busybox' }];
        const out = mutatePod(podAdmission(pod), curlMesh(), SETTINGS);
        expect(out.action).to.equal('deny');
        if (out.action === 'deny') expect(out.message).to.include('"osm-init"').and.include('rename');
      }
      const fsmPod = curlPod() as Json;
      fsmPod.spec.containers.push({ name: 'fsm-init', image: 'busybox' });
      const fsmState = meshState({ profile: 'fsm', namespaces: { curl: enrolled(profileOf('fsm')) }, meshConfig: {} });
      expect(mutatePod(podAdmission(fsmPod), fsmState, SETTINGS).action).to.equal('deny');
    });

    const BAD: [string, string, string][] = [
      ['meshgate.io/sidecar-mode', 'sidecar', '"sidecar"'],
      ['meshgate.io/iptables-backend', 'iptables', '"iptables"'],
      ['meshgate.io/sidecar-image', 'Envoy:Latest', '"Envoy:Latest"'],
      ['meshgate.io/sidecar-image', 'envoy:v1 ; rm -rf /', '"envoy:v1 ; rm -rf /"'],
      ['openservicemesh.io/outbound-ip-range-exclusion-list', '10.0.0.0/8,not-a-cidr', '"not-a-cidr"'],
      ['openservicemesh.io/outbound-ip-range-exclusion-list', '10.0.0.1', 'write 10.0.0.1/32'],
      ['openservicemesh.io/outbound-ip-range-exclusion-list', '10.0.0.0/33', '"10.0.0.0/33"'],
      ['openservicemesh.io/outbound-ip-range-exclusion-list', '010.1.1.1/32', '"010.1.1.1/32"'],
      ['openservicemesh.io/outbound-ip-range-inclusion-list', '2001:db8::/129', '"2001:db8::/129"'],
      ['openservicemesh.io/outbound-port-exclusion-list', '80,0', '"0"'],
      ['openservicemesh.io/outbound-port-exclusion-list', '70000', '"70000"'],
      ['openservicemesh.io/outbound-port-exclusion-list', '80-90', '"80-90"'],
    ];
    for (const [key, value, entry] of BAD) {
      it(`denies ${key}: ${value}, naming the annotation and the entry`, () => {
        const pod = curlPod() as Json;
        pod.metadata.annotations = { [key]: value };
        const out = mutatePod(podAdmission(pod), curlMesh(), SETTINGS);
        expect(out.action).to.equal('deny');
        if (out.action === 'deny') {
          expect(out.message).to.include(key).and.include(entry);
          expect(out.message).to.not.include('\n');
        }
      });
    }

    it('denies when the MeshConfig holds a bad list entry, naming the MeshConfig field', () => {
      const state = curlMesh('osm', { traffic: { outboundIPRangeExclusionList: ['1.2.3.0/24', 'bogus'], networkInterfaceExclusionList: ['eth0/1'] } });
      const out = mutatePod(podAdmission(curlPod()), state, SETTINGS);
      expect(out.action).to.equal('deny');
      if (out.action === 'deny') {
        expect(out.message).to.include('spec.traffic.outboundIPRangeExclusionList').and.include('"bogus"');
        expect(out.message).to.include('spec.traffic.networkInterfaceExclusionList').and.include('"eth0/1"');
      }
    });
  });

  it('denies (never throws) on an interface name the script could not carry safely', () => {
    const state = curlMesh('osm', { traffic: { networkInterfaceExclusionList: ['eth$(reboot)'] } });
    const out = mutatePod(podAdmission(curlPod()), state, SETTINGS);
    expect(out.action).to.equal('deny');
    if (out.action === 'deny') expect(out.message).to.include('networkInterfaceExclusionList').and.include('"eth$(reboot)"');
  });

  describe('uninject', () => {
    it('leaves a pod without the status annotation alone', () => {
      const r = uninject(curlPod() as unknown as Pod);
      expect(r.kind).to.equal('not-injected');
    });
    it('refuses a malformed status annotation', () => {
      const pod = curlPod() as Json;
      pod.metadata.annotations = { 'meshgate.io/status': 'nope' };
      const r = uninject(pod as Pod);
      expect(r.kind).to.equal('error');
      if (r.kind === 'error') expect(r.message).to.include('meshgate.io/status');
    });
    it('removes only what the status lists (an app container named envoy the status does not list stays)', () => {
      const injected = injectVia(curlPod()).result;
      injected.metadata.annotations['meshgate.io/status'] = JSON.stringify({ version: 'x', containers: [], initContainers: ['osm-init'], volumes: [] });
      const r = uninject(injected as Pod);
      if (r.kind !== 'uninjected') throw new Error(r.kind);
      expect(r.pod.spec.containers.map((c) => c.name)).to.deep.equal(['curl', 'envoy']);
      expect(r.pod.spec.initContainers).to.equal(undefined);
    });
  });
});
