import { expect } from 'chai';
import fc from 'fast-check';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { MESHGATE_BIN, runCli, type CliResult } from '../support/run-cli.js';
import * as arb from '../support/fuzz-arbitraries.js';
import { CaseCounter, FUZZ_SEED, scaledRuns, writeStateDir } from './fuzz-support.js';
import { XDS_CA_PATH } from '../injector/fixtures.js';

/**
 * The offline CLI (`meshgate validate`, `meshgate inject`, the compiled bin/meshgate: build first)
 * on files holding many fuzzed documents each (a process per case would be too slow): exit codes
 * only 0, 1 or 2, never a stack trace on stderr, stdout well formed. A failing file is bisected
 * down to one document, which the failure prints.
 */

const DOCS_PER_FILE = 150;
const STACK_LINE = /^\s+at .+/m;

/** Documents as text: JSON is YAML (flow style), and it keeps every string byte-exact. */
function yamlText(docs: readonly unknown[]): string {
  return docs.map((d) => JSON.stringify(d)).join('\n---\n') + '\n';
}

function sample<T>(a: fc.Arbitrary<T>, n: number, salt: number): T[] {
  return fc.sample(a, { seed: FUZZ_SEED + salt, numRuns: scaledRuns(n) });
}

type Check = (r: CliResult, docs: readonly unknown[]) => string | undefined;

function commonProblems(r: CliResult): string | undefined {
  if (r.signal) return `killed by ${r.signal} (hang?)`;
  if (r.code !== 0 && r.code !== 1 && r.code !== 2) return `exit code ${r.code}`;
  if (STACK_LINE.test(r.stderr)) return `stack trace on stderr:\n${r.stderr.slice(0, 1500)}`;
  if (/unexpected error/i.test(r.stderr)) return `unexpected error:\n${r.stderr.slice(0, 1500)}`;
  if (r.code === 2) {
    const lines = r.stderr.trim().split('\n');
    if (lines.length !== 1 || !lines[0]!.startsWith('meshgate: ')) return `exit 2 without one "meshgate: ..." line on stderr: ${r.stderr.slice(0, 500)}`;
  }
  return undefined;
}

const validateJsonOutput: Check = (r, docs) => {
  if (r.code === 2) return r.stdout === '' ? undefined : 'exit 2 with output on stdout';
  let results: Array<{ result?: string; errors?: unknown[] }>;
  try {
    results = JSON.parse(r.stdout) as typeof results;
  } catch {
    return `stdout is not JSON: ${r.stdout.slice(0, 300)}`;
  }
  if (!Array.isArray(results) || results.length !== docs.length) return `expected ${docs.length} results, got ${Array.isArray(results) ? results.length : typeof results}`;
  const bad = results.find((x) => !['valid', 'invalid', 'denied', 'skipped'].includes(String(x.result)) || !Array.isArray(x.errors));
  if (bad) return `malformed result ${JSON.stringify(bad).slice(0, 300)}`;
  const invalid = results.some((x) => x.result === 'invalid' || x.result === 'denied');
  if (invalid !== (r.code === 1)) return `exit ${r.code} but ${invalid ? 'some' : 'no'} document is invalid`;
  return undefined;
};

const injectOutput: Check = (r, docs) => {
  if (r.code !== 0) return r.stdout === '' ? undefined : `exit ${r.code} with output on stdout`;
  const parsed = parseAllDocuments(r.stdout);
  const list = Array.isArray(parsed) ? parsed : [parsed];
  const broken = list.find((d) => d.errors.length > 0);
  if (broken) return `stdout is not YAML: ${broken.errors[0]!.message}`;
  if (list.length !== docs.length) return `expected ${docs.length} documents on stdout, got ${list.length}`;
  return undefined;
};

describe(`fuzz: the offline CLI on files of fuzzed documents (seed ${FUZZ_SEED})`, function () {
  this.timeout(180_000);
  let dir: string;
  let stateDir: string;
  // Documents whose CLI run was checked; each test must reach the (scaled) number it samples.
  const cases = new CaseCounter('fuzz cli');

  before(function () {
    if (!existsSync(join(MESHGATE_BIN, '../../dist/src/cli/main.js'))) throw new Error('bin/meshgate is not built: run `npm run build` first');
    dir = mkdtempSync(join(tmpdir(), 'meshgate-fuzz-cli-'));
    stateDir = writeStateDir();
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    console.log(`      fuzz cli: ${cases.total} documents (seed ${FUZZ_SEED})`);
  });

  /** Runs the command on `docs`; on a failure, bisects to the smallest failing slice and reports it. */
  async function check(name: string, args: (file: string) => string[], docs: unknown[], ...checks: Check[]): Promise<void> {
    const run = async (slice: unknown[]): Promise<string | undefined> => {
      const file = join(dir, `${name}-${slice.length}.yaml`);
      writeFileSync(file, yamlText(slice));
      const r = await runCli(args(file), { timeoutMs: 60_000 });
      return commonProblems(r) ?? checks.map((c) => c(r, slice)).find((p) => p !== undefined);
    };
    let problem = await run(docs);
    if (!problem) {
      cases.add(docs.length);
      return;
    }
    let failing = docs;
    while (failing.length > 1) {
      const half = failing.slice(0, Math.ceil(failing.length / 2));
      const rest = failing.slice(half.length);
      const p = await run(half);
      if (p) [failing, problem] = [half, p];
      else {
        const q = await run(rest);
        if (!q) break; // only the combination fails: report the whole slice
        [failing, problem] = [rest, q];
      }
    }
    throw new Error(`meshgate ${args('FILE').join(' ')} (FUZZ_SEED=${FUZZ_SEED}): ${problem}\nfailing input (${failing.length} document(s)):\n${yamlText(failing).slice(0, 4000)}`);
  }

  it('meshgate validate -o json: exit 0/1/2 only, no stack trace, one well-formed result per document', async () => {
    for (let i = 0; i < 3; i++) {
      const docs = sample(arb.cliDocument, DOCS_PER_FILE, i);
      await check(`validate-${i}`, (f) => ['validate', '-f', f, '--state', stateDir, '-o', 'json'], docs, validateJsonOutput);
    }
    cases.expectFloor('validate -o json', 3 * scaledRuns(DOCS_PER_FILE));
  });

  it('meshgate validate (text): exit 0/1/2 only, no stack trace', async () => {
    const docs = sample(arb.cliDocument, DOCS_PER_FILE, 10);
    await check('validate-text', (f) => ['validate', '-f', f], docs, (r) => (r.code !== 2 && r.stdout.trim() === '' ? 'no output' : undefined));
    cases.expectFloor('validate (text)', scaledRuns(DOCS_PER_FILE));
  });

  it('meshgate inject: exit 0/1/2 only, no stack trace, YAML out with one document per document in', async () => {
    // Mostly injectable documents, so some files get all the way to stdout; then anything.
    const mostlyValid = fc.oneof({ weight: 8, arbitrary: fc.oneof(arb.workload, arb.wellTypedPod) }, { weight: 1, arbitrary: arb.cliDocument });
    for (let i = 0; i < 3; i++) {
      const docs = sample(i === 2 ? arb.cliDocument : mostlyValid, i === 2 ? DOCS_PER_FILE : 40, 20 + i);
      await check(`inject-${i}`, (f) => ['inject', '-f', f, '--state', stateDir, '--xds-ca', XDS_CA_PATH], docs, injectOutput);
    }
    // Clean pods alone: exit 0 and everything printed. Fuzzed security contexts add NET_ADMIN or
    // run as 1500, which the pod guard refuses by default (issue #14): here it only warns.
    const reserved = (p: Record<string, unknown>) => /"name":"(envoy|osm-init)"/.test(JSON.stringify(p.spec));
    const clean = sample(
      arb.wellTypedPod.filter((p) => !reserved(p)).map((p) => ({ ...p, metadata: { name: 'fuzz', annotations: {} }, spec: { ...(p.spec as object), hostNetwork: false } })),
      60,
      30,
    );
    const file = join(dir, 'inject-clean.yaml');
    writeFileSync(file, yamlText(clean));
    const r = await runCli(['inject', '-f', file, '--state', stateDir, '--xds-ca', XDS_CA_PATH, '--bypass-guard', 'warn'], { timeoutMs: 60_000 });
    expect(commonProblems(r)).to.equal(undefined);
    expect(r.code, r.stderr).to.equal(0);
    expect(injectOutput(r, clean)).to.equal(undefined);
    expect(r.stdout.match(/^ {4}- name: envoy$/gm), 'an envoy sidecar per pod').to.have.length(clean.length);
    cases.add(clean.length);
    cases.expectFloor('inject', 2 * scaledRuns(40) + scaledRuns(DOCS_PER_FILE) + scaledRuns(60));
  });

  it('garbage that is not YAML, or not objects: exit 2 with one line, never a stack trace', async () => {
    const texts = sample(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.constantFrom('{', '- [', 'a: b: c', '\t- x', '*alias', '&a [*a, *a]', '"unterminated', '--- !!binary x', `${'['.repeat(5000)}`, `${'- '.repeat(3000)}x`),
      ),
      12,
      40,
    );
    for (const [i, text] of texts.entries()) {
      const file = join(dir, `garbage-${i}.yaml`);
      writeFileSync(file, text);
      for (const cmd of ['validate', 'inject']) {
        const r = await runCli([cmd, '-f', file], { timeoutMs: 30_000 });
        const problem = commonProblems(r);
        expect(problem, `meshgate ${cmd} on ${JSON.stringify(text.slice(0, 200))}`).to.equal(undefined);
      }
      cases.add(1);
    }
    cases.expectFloor('garbage', scaledRuns(12));
  });
});
