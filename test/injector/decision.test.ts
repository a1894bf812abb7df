import { expect } from 'chai';
import { mutatePod } from '../../src/injector/index.js';
import { curlPod, enrolled, meshState, podAdmission, profileOf, SETTINGS } from './fixtures.js';

const osm = profileOf('osm');
const D = osm.domain;
const MESH_LABEL = { [`${D}/monitored-by`]: 'osm' };
const ENABLED = { [`${D}/sidecar-injection`]: 'enabled' };

interface Case {
  name: string;
  namespace?: string;
  ns?: { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined;
  podAnnotations?: Record<string, string>;
  hostNetwork?: boolean;
  expect: 'patch' | 'skip' | 'deny';
  /** Substrings the skip reason or deny message must contain. */
  says?: string[];
}

const CASES: Case[] = [
  { name: 'enrolled namespace that enables injection', ns: enrolled(osm), expect: 'patch' },
  { name: 'namespace annotation value is case-insensitive (YES)', ns: { labels: MESH_LABEL, annotations: { [`${D}/sidecar-injection`]: 'YES' } }, expect: 'patch' },
  { name: 'namespace annotation "true"', ns: { labels: MESH_LABEL, annotations: { [`${D}/sidecar-injection`]: 'true' } }, expect: 'patch' },
  { name: 'label alone does not inject', ns: { labels: MESH_LABEL }, expect: 'skip', says: ['does not enable'] },
  { name: 'annotation alone does not inject (namespace not enrolled)', ns: { annotations: ENABLED }, expect: 'skip', says: ['not enrolled'] },
  { name: 'pod says enabled in an unlabelled namespace', ns: {}, podAnnotations: ENABLED, expect: 'patch' },
  { name: 'pod says enabled in an unknown namespace', ns: undefined, podAnnotations: { [`${D}/sidecar-injection`]: 'True' }, expect: 'patch' },
  { name: 'pod says disabled in an enabled namespace', ns: enrolled(osm), podAnnotations: { [`${D}/sidecar-injection`]: 'disabled' }, expect: 'skip', says: ['disables'] },
  { name: 'pod says "no"', ns: enrolled(osm), podAnnotations: { [`${D}/sidecar-injection`]: 'No' }, expect: 'skip' },
  { name: 'pod says "false"', ns: enrolled(osm), podAnnotations: { [`${D}/sidecar-injection`]: 'FALSE' }, expect: 'skip' },
  { name: 'namespace says disabled, pod says enabled', ns: { labels: MESH_LABEL, annotations: { [`${D}/sidecar-injection`]: 'disabled' } }, podAnnotations: ENABLED, expect: 'patch' },
  { name: 'namespace says disabled', ns: { labels: MESH_LABEL, annotations: { [`${D}/sidecar-injection`]: 'disabled' } }, expect: 'skip' },
  { name: 'ignored namespace', ns: { labels: { ...MESH_LABEL, [`${D}/ignore`]: 'true' }, annotations: ENABLED }, expect: 'skip', says: ['ignore'] },
  { name: 'ignored namespace, pod says enabled', ns: { labels: { [`${D}/ignore`]: '' } }, podAnnotations: ENABLED, expect: 'skip', says: ['ignore'] },
  { name: 'namespace of another mesh', ns: { labels: { [`${D}/monitored-by`]: 'other' }, annotations: ENABLED }, podAnnotations: ENABLED, expect: 'skip', says: ['"other"'] },
  { name: 'hostNetwork pod', ns: enrolled(osm), podAnnotations: ENABLED, hostNetwork: true, expect: 'skip', says: ['hostNetwork'] },
  { name: 'kube-system', namespace: 'kube-system', ns: enrolled(osm), podAnnotations: ENABLED, expect: 'skip', says: ['kube-system'] },
  { name: 'kube-public', namespace: 'kube-public', ns: enrolled(osm), podAnnotations: ENABLED, expect: 'skip', says: ['kube-public'] },
  { name: 'the control namespace', namespace: 'osm-system', ns: enrolled(osm), podAnnotations: ENABLED, expect: 'skip', says: ['control namespace'] },
  {
    name: 'bad pod annotation value',
    ns: enrolled(osm),
    podAnnotations: { [`${D}/sidecar-injection`]: 'enable' },
    expect: 'deny',
    says: [`${D}/sidecar-injection`, '"enable"', 'pod annotation'],
  },
  {
    name: 'bad namespace annotation value',
    ns: { labels: MESH_LABEL, annotations: { [`${D}/sidecar-injection`]: 'on' } },
    expect: 'deny',
    says: [`${D}/sidecar-injection`, '"on"', 'namespace "curl"'],
  },
  { name: 'bad value with a hostNetwork pod still denies', ns: enrolled(osm), podAnnotations: { [`${D}/sidecar-injection`]: '1' }, hostNetwork: true, expect: 'deny', says: ['"1"'] },
];

describe('injector decision (SPEC §2)', () => {
  for (const c of CASES) {
    it(`${c.expect}: ${c.name}`, () => {
      const namespace = c.namespace ?? 'curl';
      const state = meshState({ namespaces: c.ns ? { [namespace]: c.ns } : {}, meshConfig: {} });
      const pod = curlPod() as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
      if (c.podAnnotations) pod.metadata.annotations = c.podAnnotations;
      if (c.hostNetwork) pod.spec.hostNetwork = true;
      const out = mutatePod(podAdmission(pod, namespace), state, SETTINGS);
      expect(out.action).to.equal(c.expect, JSON.stringify(out).slice(0, 300));
      const text = out.action === 'skip' ? out.reason : out.action === 'deny' ? out.message : '';
      for (const s of c.says ?? []) expect(text).to.include(s);
      if (out.action !== 'patch') expect(out).to.not.have.property('patch');
    });
  }

  it('uses the request namespace when the pod has none (CREATE), not a default', () => {
    const state = meshState({ namespaces: { curl: enrolled(osm), default: {} }, meshConfig: {} });
    expect(mutatePod(podAdmission(curlPod(), 'curl'), state, SETTINGS).action).to.equal('patch');
    expect(mutatePod(podAdmission(curlPod(), 'default'), state, SETTINGS).action).to.equal('skip');
  });

  it('skips a pod that is already injected (status annotation or an envoy container)', () => {
    const state = meshState({ namespaces: { curl: enrolled(osm) }, meshConfig: {} });
    const withStatus = curlPod() as { metadata: Record<string, unknown> };
    withStatus.metadata.annotations = { 'meshgate.io/status': '{}' };
    expect(mutatePod(podAdmission(withStatus), state, SETTINGS)).to.include({ action: 'skip' });
    const withEnvoy = curlPod() as { spec: { containers: unknown[] } };
    withEnvoy.spec.containers.push({ name: 'envoy', image: 'envoyproxy/envoy' });
    const out = mutatePod(podAdmission(withEnvoy), state, SETTINGS);
    expect(out.action).to.equal('skip');
    if (out.action === 'skip') expect(out.reason).to.include('already injected');
  });

  it('skips operations other than CREATE and objects that are not pods', () => {
    const state = meshState({ namespaces: { curl: enrolled(osm) }, meshConfig: {} });
    expect(mutatePod(podAdmission(curlPod(), 'curl', 'UPDATE'), state, SETTINGS).action).to.equal('skip');
    expect(mutatePod(podAdmission({ kind: 'Pod', spec: 'nonsense' }), state, SETTINGS).action).to.equal('skip');
  });

  it('uses the fsm profile domain', () => {
    const fsm = profileOf('fsm');
    const state = meshState({ profile: 'fsm', namespaces: { curl: enrolled(fsm) }, meshConfig: {} });
    expect(mutatePod(podAdmission(curlPod()), state, SETTINGS).action).to.equal('patch');
    // OSM's keys mean nothing to an fsm mesh.
    const osmState = meshState({ profile: 'fsm', namespaces: { curl: enrolled(osm) }, meshConfig: {} });
    expect(mutatePod(podAdmission(curlPod()), osmState, SETTINGS).action).to.equal('skip');
  });
});
