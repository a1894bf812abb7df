import { run } from '@bufbuild/cel';
import { expect } from 'chai';
import { checkPodBypass, mutatePod } from '../../src/injector/index.js';
import { defaultInstallOptions } from '../../src/manifests/defaults.js';
import { renderInstall } from '../../src/manifests/render-install.js';
import { POD_GUARD_MATCH_CONDITION } from '../../src/manifests/webhook-configurations.js';
import type { AdmissionInput } from '../../src/vocabulary/admission.js';
import { curlMesh, curlPod, podAdmission, SETTINGS } from '../injector/fixtures.js';
import { applyPatch } from 'rfc6902';

/**
 * The pod guard's match condition decides which Pod UPDATEs reach a fail-closed webhook. It is
 * evaluated here with a real CEL implementation (@bufbuild/cel), as kube-apiserver evaluates it
 * (`request`, `object`, `oldObject`), taken from the rendered install rather than from the source.
 */

type Json = Record<string, any>;

const podGuard = (() => {
  const config = renderInstall(defaultInstallOptions()).find((o) => o.kind === 'ValidatingWebhookConfiguration') as Json;
  const webhook = (config.webhooks as Json[]).find((w) => (w.rules as Json[]).some((r) => r.resources.includes('pods')));
  if (!webhook) throw new Error('no pod webhook in the install');
  return webhook;
})();

/** JSON as CEL sees a Kubernetes object: objects are maps. */
function toCel(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toCel);
  if (v !== null && typeof v === 'object') return new Map(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  return v;
}

/** Whether kube-apiserver would send this request to the pod guard (every match condition true). */
function sent(operation: 'CREATE' | 'UPDATE', object: Json, oldObject: Json | null, subResource = ''): boolean {
  const vars = { request: toCel({ operation, subResource }), object: toCel(object), oldObject: toCel(oldObject) };
  return (podGuard.matchConditions as Json[]).every((c) => {
    const out = run(c.expression, vars as never);
    if (typeof out !== 'boolean') throw new Error(`match condition ${c.name} gave ${String(out)}, not a bool`);
    return out;
  });
}

/** The curl pod after meshgate's mutating webhook, as the API server stores it. */
function injected(mode: 'classic' | 'native' = 'classic'): Json {
  const original = curlPod() as Json;
  const out = mutatePod(podAdmission(original), curlMesh(), { ...SETTINGS, sidecarMode: mode });
  if (out.action !== 'patch') throw new Error(`expected a patch, got ${out.action}`);
  const pod = structuredClone(original);
  const failed = applyPatch(pod, out.patch as Parameters<typeof applyPatch>[1]).filter(Boolean);
  expect(failed, 'patch operations that did not apply').to.deep.equal([]);
  return pod;
}

function guardOnUpdate(before: Json, after: Json, mode: 'classic' | 'native') {
  const input: AdmissionInput = { ...podAdmission(after), operation: 'UPDATE', oldObject: before as AdmissionInput['oldObject'] };
  return checkPodBypass(input, curlMesh(), { ...SETTINGS, sidecarMode: mode });
}

describe('pod guard webhook: its match condition (which Pod UPDATEs reach a fail-closed webhook)', () => {
  it('is one named condition on the pod webhook', () => {
    expect((podGuard.matchConditions as Json[]).map((c) => c.name)).to.deep.equal([POD_GUARD_MATCH_CONDITION]);
  });

  it('sends every CREATE and every pods/ephemeralcontainers update', () => {
    expect(sent('CREATE', curlPod() as Json, null)).to.equal(true);
    expect(sent('CREATE', injected(), null)).to.equal(true);
    const before = injected();
    expect(sent('UPDATE', before, before, 'ephemeralcontainers')).to.equal(true);
  });

  for (const mode of ['classic', 'native'] as const) {
    const UPDATES: [string, (p: Json) => void, boolean][] = [
      ['a label added', (p) => (p.metadata.labels = { ...p.metadata.labels, extra: 'x' }), false],
      ['an annotation changed', (p) => (p.metadata.annotations = { ...p.metadata.annotations, note: 'y' }), false],
      ['a finalizer removed (the Job controller)', (p) => (p.metadata.finalizers = []), false],
      ['owner references changed (adoption)', (p) => (p.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u' }]), false],
      ['activeDeadlineSeconds set', (p) => (p.spec.activeDeadlineSeconds = 30), false],
      ['the proxy image swapped', (p) => ((mode === 'classic' ? p.spec.containers : p.spec.initContainers).find((c: Json) => c.name === 'envoy').image = 'busybox'), true],
      ['the init image swapped', (p) => (p.spec.initContainers.find((c: Json) => c.name === 'osm-init').image = 'busybox'), true],
      ["the app's image changed", (p) => (p.spec.containers.find((c: Json) => c.name === 'curl').image = 'curlimages/curl:8.10.1'), true],
    ];
    for (const [what, change, expected] of UPDATES) {
      it(`${mode} mode: an UPDATE with ${what} is ${expected ? '' : 'not '}sent`, () => {
        const before = injected(mode);
        const after = structuredClone(before);
        change(after);
        expect(sent('UPDATE', after, before)).to.equal(expected);
        // What the condition keeps away from the webhook, the guard would have allowed anyway.
        if (!expected) expect(guardOnUpdate(before, after, mode)).to.deep.equal({ errors: [], warnings: [] });
        else if (what.includes('swapped')) expect(guardOnUpdate(before, after, mode).forbidden).to.include('image changed after admission');
      });
    }
  }

  it('reads a pod without init containers on either side (an UPDATE of a pod never injected)', () => {
    const plain = curlPod() as Json;
    delete plain.spec.initContainers;
    const labelled = structuredClone(plain);
    labelled.metadata.labels = { ...labelled.metadata.labels, extra: 'x' };
    expect(sent('UPDATE', labelled, plain)).to.equal(false);
  });
});
