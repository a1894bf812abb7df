import { expect } from 'chai';
import fc from 'fast-check';
import { compileProxyConfig } from '../../src/egress/compile.js';
import { checkLoadRules } from '../../src/egress/load-rules.js';
import { mutatePod } from '../../src/injector/index.js';
import { validateAdmission } from '../../src/validate-admission.js';
import { resolveProfile } from '../../src/profile.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import { MeshStore } from '../../src/state/store.js';
import type { KubeObject } from '../../src/state/types.js';
import { decodeAdmissionReview } from '../../src/webhook/admission-request.js';
import type { AdmissionInput, Operation } from '../../src/vocabulary/admission.js';
import * as arb from '../support/fuzz-arbitraries.js';
import { asJson, CaseCounter, checkMutationOutcome, checkValidationOutcome, unchanged, FUZZ_SCALE, FUZZ_SEED, fuzzParameters, fuzzStore, scaledRuns, settingsArb } from './fuzz-support.js';

/**
 * The pure core (validateAdmission, mutatePod, compileProxyConfig) on fuzzed objects, in process: it never throws,
 * every outcome is well formed, warnings are single lines of at most 256 characters, and every
 * patch applies to the pod as sent and keeps container names unique.
 */

const GVK = {
  egress: { group: 'policy.openservicemesh.io', version: 'v1alpha1', kind: 'Egress' },
  fsmEgress: { group: 'policy.flomesh.io', version: 'v1alpha1', kind: 'Egress' },
  httpRouteGroup: { group: 'specs.smi-spec.io', version: 'v1alpha4', kind: 'HTTPRouteGroup' },
  meshConfig: { group: 'config.openservicemesh.io', version: 'v1alpha2', kind: 'MeshConfig' },
  pod: { group: '', version: 'v1', kind: 'Pod' },
};

function inputFor(kind: AdmissionInput['kind'], object: unknown, operation: Operation, oldObject?: unknown, namespace?: string): AdmissionInput {
  const meta = (object && typeof object === 'object' ? (object as { metadata?: unknown }).metadata : undefined) as { name?: unknown; namespace?: unknown } | undefined;
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    uid: 'fuzz',
    kind,
    operation,
    namespace: namespace ?? str(meta && typeof meta === 'object' ? meta.namespace : undefined),
    name: str(meta && typeof meta === 'object' ? meta.name : undefined),
    object: operation === 'DELETE' ? undefined : (object as KubeObject),
    oldObject: operation === 'CREATE' ? undefined : ((oldObject ?? object) as KubeObject),
    dryRun: false,
  };
}

/** Values as they come off the wire (see asJson). */
const json = <T>(a: fc.Arbitrary<T>) => a.map((v) => asJson(v));

const operation = fc.constantFrom<Operation>('CREATE', 'CREATE', 'UPDATE', 'DELETE');
/** Objects with NaN/Infinity mixed in: only the in-process path can see those. */
const withNonJson = <T>(a: fc.Arbitrary<T>) =>
  fc.tuple(json(a), fc.option(arb.inProcessOnlyValue, { freq: 8 })).map(([o, v]) => {
    if (v === null || !o || typeof o !== 'object') return o;
    o = asJson(o);
    const spec = (o as { spec?: unknown }).spec;
    if (spec && typeof spec === 'object' && !Array.isArray(spec)) {
      const ports = (spec as { ports?: unknown }).ports;
      if (Array.isArray(ports) && ports[0] && typeof ports[0] === 'object') (ports[0] as Record<string, unknown>).number = v;
    }
    return o;
  });

describe(`fuzz: the pure core in process (seed ${FUZZ_SEED})`, function () {
  this.timeout(120_000);
  const store = fuzzStore();

  // Every target must run its (scaled) number of cases, and the suite at least 10,000 in all.
  const cases = new CaseCounter('fuzz core');
  const SUITE_FLOOR = 10_000;
  after(() => console.log(`      fuzz core: ${cases.total} cases (seed ${FUZZ_SEED}; replay with FUZZ_SEED=${FUZZ_SEED})`));

  it('validateAdmission on Egresses (both groups, CREATE/UPDATE/DELETE) never throws and answers well-formed', () => {
    fc.assert(
      cases.property(withNonJson(arb.egress), fc.option(json(arb.egress), { nil: undefined }), operation, fc.boolean(), settingsArb, (object, old, op, fsm, settings) => {
        checkValidationOutcome(unchanged([object, old], () => validateAdmission(inputFor(fsm ? GVK.fsmEgress : GVK.egress, object, op, old), store, settings)));
      }),
      fuzzParameters(2500),
    );
    cases.expectFloor('validateAdmission on Egresses (both groups, CREATE/UPDATE/DELETE)', scaledRuns(2500));
  });

  it('validateAdmission on HTTPRouteGroups (invalid RE2, catastrophic JS regexes, huge patterns) never throws', () => {
    fc.assert(
      cases.property(json(arb.httpRouteGroup), operation, (object, op) => {
        checkValidationOutcome(unchanged(object, () => validateAdmission(inputFor(GVK.httpRouteGroup, object, op), store, DEFAULT_SETTINGS)));
      }),
      fuzzParameters(1500),
    );
    cases.expectFloor('validateAdmission on HTTPRouteGroups (invalid RE2, catastrophic JS regexes, huge patterns)', scaledRuns(1500));
  });

  it('validateAdmission on MeshConfigs never throws', () => {
    fc.assert(
      cases.property(withNonJson(arb.meshConfig), operation, (object, op) => {
        checkValidationOutcome(unchanged(object, () => validateAdmission(inputFor(GVK.meshConfig, object, op), store, DEFAULT_SETTINGS)));
      }),
      fuzzParameters(1500),
    );
    cases.expectFloor('validateAdmission on MeshConfigs', scaledRuns(1500));
  });

  it('validateAdmission on Pods (the bypass guard, every mode) never throws', () => {
    fc.assert(
      cases.property(json(fc.oneof(arb.pod, arb.wellTypedPod)), fc.constantFrom(...arb.NAMESPACES), settingsArb, (object, ns, settings) => {
        checkValidationOutcome(unchanged(object, () => validateAdmission(inputFor(GVK.pod, object, 'CREATE', undefined, ns), store, settings)));
      }),
      fuzzParameters(1000),
    );
    cases.expectFloor('validateAdmission on Pods (the bypass guard, every mode)', scaledRuns(1000));
  });

  const actions = { patch: 0, skip: 0, deny: 0 };
  it('mutatePod never throws; patches apply to the pod as sent, keep container names unique, and re-injection is a no-op', () => {
    fc.assert(
      cases.property(
        json(fc.oneof({ weight: 2, arbitrary: arb.wellTypedPod }, { weight: 1, arbitrary: arb.pod })),
        // Mostly the enrolled namespaces, where injection happens.
        fc.oneof({ weight: 3, arbitrary: fc.constantFrom('curl', 'default') }, { weight: 1, arbitrary: fc.constantFrom(...arb.NAMESPACES, '') }),
        fc.option(json(arb.meshConfigSpec), { nil: undefined, freq: 3 }),
        settingsArb,
        (object, ns, meshConfigSpec, settings) => {
          const state = meshConfigSpec ? fuzzStore({ spec: meshConfigSpec }) : store;
          const input = inputFor(GVK.pod, object, 'CREATE', undefined, ns);
          const outcome = unchanged(object, () => mutatePod(input, state, settings));
          actions[outcome.action]++;
          const patched = checkMutationOutcome(outcome, object);
          if (patched === undefined) return;
          const again = mutatePod({ ...input, object: patched as KubeObject }, state, settings);
          checkMutationOutcome(again, patched);
          if (again.action === 'patch' && again.patch.length > 0) {
            throw new Error(`re-injecting an injected pod patched it again: ${JSON.stringify(again.patch).slice(0, 300)}`);
          }
        },
      ),
      fuzzParameters(2500),
    );
    cases.expectFloor('mutatePod', scaledRuns(2500));
    // The arbitraries must reach every branch of the injector, or the property proves little.
    const runs = actions.patch + actions.skip + actions.deny;
    for (const a of ['patch', 'skip', 'deny'] as const) expect(actions[a], `${a} outcomes of ${runs}`).to.be.greaterThan(runs / 20);
  });

  it('the whole decode path: any JSON body → decodeAdmissionReview → both webhooks never throw', () => {
    fc.assert(
      cases.property(json(arb.anyReviewBody), (body) => {
        const decoded = decodeAdmissionReview(body);
        if (!decoded.ok) {
          expect(decoded.reason).to.be.a('string').and.not.equal('');
          if (arb.expectsReviewAnswer(body)) expect(decoded.uid, 'a review with a uid is answered with it').to.equal(body.request.uid);
          return;
        }
        checkValidationOutcome(validateAdmission(decoded.input, store, DEFAULT_SETTINGS));
        checkMutationOutcome(mutatePod(decoded.input, store, DEFAULT_SETTINGS), decoded.input.object);
      }),
      fuzzParameters(1000),
    );
    cases.expectFloor('the whole decode path', scaledRuns(1000));
  });

  it('the state store takes any object (informers deliver what the API server has) and the rules still answer', () => {
    fc.assert(
      cases.property(json(fc.array(fc.oneof(arb.egress, arb.httpRouteGroup, arb.meshConfig), { maxLength: 6 })), json(arb.egress), (objects, probe) => {
        const s = new MeshStore(resolveProfile('osm'));
        for (const o of objects) s.upsert(o as KubeObject);
        checkValidationOutcome(validateAdmission(inputFor(GVK.egress, probe, 'CREATE'), s, DEFAULT_SETTINGS));
        for (const o of objects) s.remove(o as KubeObject);
      }),
      fuzzParameters(500),
    );
    cases.expectFloor('the state store', scaledRuns(500));
  });

  it('the egress compiler takes any stored objects: never throws, and Envoy would load what it emits', () => {
    fc.assert(
      cases.property(json(fc.array(fc.oneof(arb.egress, arb.egress, arb.httpRouteGroup, arb.meshConfig), { maxLength: 8 })), settingsArb, (objects, settings) => {
        const s = new MeshStore(resolveProfile('osm'));
        for (const o of objects) s.upsert(o as KubeObject);
        // Every ServiceAccount some stored policy names (and one none does).
        const accounts = new Set(['curl/curl']);
        for (const o of objects as { spec?: { sources?: unknown } }[]) {
          for (const src of Array.isArray(o?.spec?.sources) ? o.spec.sources : []) {
            if (src && typeof src.namespace === 'string' && typeof src.name === 'string') accounts.add(`${src.namespace}/${src.name}`);
          }
        }
        for (const a of accounts) {
          const [namespace, name] = [a.slice(0, a.indexOf('/')), a.slice(a.indexOf('/') + 1)];
          const { config, warnings } = compileProxyConfig({ namespace, name }, s, settings);
          expect(checkLoadRules(config), a).to.deep.equal([]);
          for (const w of warnings) expect(w).to.be.a('string');
        }
      }),
      fuzzParameters(500),
    );
    cases.expectFloor('the egress compiler takes any stored objects', scaledRuns(500));
  });

  it(`ran at least ${SUITE_FLOOR.toLocaleString('en')} cases in all (times FUZZ_SCALE)`, () => {
    cases.expectTotal(Math.round(SUITE_FLOOR * FUZZ_SCALE));
  });
});
