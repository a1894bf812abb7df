import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mutatePod } from '../../src/injector/index.js';
import { parseDocuments } from '../../src/io/yaml-documents.js';
import { validateAdmission } from '../../src/validate-admission.js';
import { resolveProfile } from '../../src/profile.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import { MeshStore } from '../../src/state/store.js';
import type { KubeObject } from '../../src/state/types.js';
import { runCli } from '../support/run-cli.js';
import { checkMutationOutcome, checkWarnings, fuzzStore } from './fuzz-support.js';

/**
 * Every crash or broken promise the fuzz suites found, as a named test with the minimal
 * counterexample (fixed in the source; see docs/resilience.md for the list).
 */

const egressInput = (object: KubeObject) => ({
  uid: 'r',
  kind: { group: 'policy.openservicemesh.io', version: 'v1alpha1', kind: 'Egress' },
  operation: 'CREATE' as const,
  namespace: 'curl',
  name: 'x',
  object,
  oldObject: undefined,
  dryRun: false,
});

describe('fuzz regressions (minimal counterexamples of bugs the fuzzers found)', function () {
  this.timeout(30_000);
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'meshgate-regressions-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('MeshStore.upsert of an object whose apiVersion is not a string (was: TypeError apiVersion.indexOf is not a function)', () => {
    const store = new MeshStore(resolveProfile('osm'));
    for (const apiVersion of [true, 1, {}, [], null]) {
      expect(() => store.upsert({ apiVersion, kind: 'Egress', metadata: { name: 'x', namespace: 'curl' }, spec: {} } as unknown as KubeObject)).not.to.throw();
      expect(() => store.remove({ apiVersion, kind: 'Egress', metadata: { name: 'x', namespace: 'curl' } } as unknown as KubeObject)).not.to.throw();
    }
    const outcome = validateAdmission(egressInput({ apiVersion: 'policy.openservicemesh.io/v1alpha1', kind: 'Egress', spec: {} } as KubeObject), store, DEFAULT_SETTINGS);
    expect(outcome.errors.length).to.be.greaterThan(0);
  });

  it('meshgate validate on `apiVersion: true` answers instead of crashing with a stack trace (same bug, through the CLI)', async () => {
    const file = join(dir, 'api-version-true.yaml');
    writeFileSync(file, 'apiVersion: true\nkind: Egress\nmetadata: {name: x, namespace: curl}\nspec: {}\n');
    const r = await runCli(['validate', '-f', file]);
    expect(r.stderr).not.to.match(/^\s+at /m);
    expect(r.code).to.be.oneOf([0, 1]);
  });

  for (const [name, text] of [
    ['an alias without its anchor: `*alias`', '*alias\n'],
    ['an alias bomb (billion laughs)', `a: &a [x,x,x,x,x,x,x,x,x,x]\n${Array.from({ length: 6 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(10).fill(i === 0 ? '*a' : `*a${i}`).join(',')}]`).join('\n')}\n`],
  ] as const) {
    it(`YAML input with ${name}: exit 2 and one line, for validate and inject (was: unexpected error with a stack trace)`, async () => {
      const file = join(dir, 'alias.yaml');
      writeFileSync(file, text);
      expect(() => parseDocuments(file, text)).to.throw(/invalid YAML in document 1/);
      for (const cmd of ['validate', 'inject']) {
        const r = await runCli([cmd, '-f', file]);
        expect(r.code, `${cmd}: ${r.stderr}`).to.equal(2);
        expect(r.stderr.trim().split('\n'), cmd).to.have.length(1);
        expect(r.stderr).to.match(/^meshgate: .*alias\.yaml: invalid YAML in document 1: /);
      }
    });
  }

  it('a MeshConfig sidecar.logLevel with a C1 control, a line separator or 10,000 characters: the injector warning stays one line of at most 256 (was: the raw value in the warning)', () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'fuzz', annotations: {} }, spec: { serviceAccountName: 'curl', containers: [{ name: 'app', image: 'busybox' }] } };
    for (const logLevel of ['\u0085', 'a\u2028b', '\u009b31m', 'x'.repeat(10_000)]) {
      const state = fuzzStore({ spec: { sidecar: { logLevel } } });
      const outcome = mutatePod({ uid: 'r', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'curl', name: 'fuzz', object: pod as KubeObject, oldObject: undefined, dryRun: false }, state, DEFAULT_SETTINGS);
      expect(outcome.action).to.equal('patch');
      checkWarnings(outcome.warnings);
      expect(outcome.warnings.join(' ')).to.match(/sidecar\.logLevel .* is not an Envoy log level/);
      checkMutationOutcome(outcome, pod);
    }
  });

  it('a pod with a field nested 9,000 levels deep (managedFields) is injected, the patch untouched by the depth (was: RangeError from a deep clone, a 500)', () => {
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 9000; i++) deep = (deep[`f:${i}`] = {}) as Record<string, unknown>;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { generateName: 'curl-', managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsV1: root }] },
      spec: { serviceAccountName: 'curl', containers: [{ name: 'curl', image: 'curlimages/curl' }] },
    };
    const store = new MeshStore(resolveProfile('osm'));
    store.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'curl', labels: { 'openservicemesh.io/monitored-by': 'osm' }, annotations: { 'openservicemesh.io/sidecar-injection': 'enabled' } } });
    const outcome = mutatePod(
      { uid: 'deep', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'curl', name: '', object: pod, oldObject: undefined, dryRun: false },
      store,
      DEFAULT_SETTINGS,
    );
    expect(outcome.action).to.equal('patch');
    if (outcome.action !== 'patch') return;
    expect(outcome.patch.map((op) => op.path).filter((p) => p.includes('managedFields'))).to.deep.equal([]);
    expect(outcome.patch.map((op) => op.path)).to.include.members(['/spec/containers/1', '/spec/initContainers']);
  });

  it('an unknown field named "\\n" and a host "\\n#": every field and message of the denial stays on one line (was: a raw newline in causes[].field and in the hint)', () => {
    const store = new MeshStore(resolveProfile('osm'));
    const outcome = validateAdmission(
      egressInput({
        apiVersion: 'policy.openservicemesh.io/v1alpha1',
        kind: 'Egress',
        metadata: { name: 'x', namespace: 'curl' },
        spec: { sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }], hosts: ['\n#', 'a\u2028b.com'], ports: [{ number: 80, protocol: 'http', '\n': 0 }] },
      }),
      store,
      DEFAULT_SETTINGS,
    );
    expect(outcome.errors.length).to.be.greaterThan(1);
    for (const e of outcome.errors) {
      expect(e.field, e.field).to.not.match(/[\n\r\u0085\u2028\u2029]/);
      expect(e.message, e.message).to.not.match(/[\n\r\u0085\u2028\u2029]/);
    }
    expect(outcome.errors.map((e) => e.field)).to.include('spec.ports[0]["\\n"]');
  });
});
