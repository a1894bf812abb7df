import { expect } from 'chai';
import fc from 'fast-check';
import { canonicalize } from '../../src/egress/canonical.js';
import { checkLoadRules } from '../../src/egress/load-rules.js';
import { compileSet, policySetArb, PROPERTY_SEED } from '../support/egress-policy-sets.js';

/**
 * Random policy sets for one ServiceAccount — several policies, ports shared across protocols,
 * duplicate and wildcard hosts, prefixes of both families that nest and overlap — compile to
 * configs that Envoy would load: no rule of checkLoadRules is ever violated. (The strict schema
 * check of the same configs is in test/envoy/compiled-config.test.ts.) Seeded, so a failure replays.
 */
describe('egress compiler: properties over random policy sets', () => {
  it('never emits what Envoy refuses at load, and writes canonical JSON (400 sets)', () => {
    let withListener = 0;
    fc.assert(
      fc.property(policySetArb, (s) => {
        const { config } = compileSet(s);
        expect(checkLoadRules(config)).to.deep.equal([]);
        // Canonical JSON: every object's keys already sorted, at every depth.
        for (const r of [...config.listeners, ...config.routeConfigurations, ...config.clusters]) expect(JSON.stringify(r)).to.equal(JSON.stringify(canonicalize(r)));
        if (config.listeners.length) withListener++;
      }),
      { seed: PROPERTY_SEED, numRuns: 400 },
    );
    // The generator must reach the interesting cases, not only empty configs.
    expect(withListener).to.be.greaterThan(200);
  });

  it('is deterministic: compiling the same set twice gives the same bytes', () => {
    fc.assert(
      fc.property(policySetArb, (s) => {
        expect(JSON.stringify(compileSet(s).config)).to.equal(JSON.stringify(compileSet(s).config));
      }),
      { seed: PROPERTY_SEED, numRuns: 100 },
    );
  });

  it('a policy with the listener-level gates off (enableEgressPolicy false, egress closed) yields no listener', () => {
    fc.assert(
      fc.property(policySetArb, (s) => {
        const { config } = compileSet({ ...s, enableEgress: false, enableEgressPolicy: false });
        expect(config.listeners).to.deep.equal([]);
      }),
      { seed: PROPERTY_SEED, numRuns: 50 },
    );
  });
});
