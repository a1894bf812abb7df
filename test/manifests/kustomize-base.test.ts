import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { defaultInstallOptions } from '../../src/manifests/defaults.js';
import { renderCrds, renderInstall } from '../../src/manifests/render-install.js';
import { CRDS_BASE_DIR, renderCrdsKustomizeBase, renderKustomizeBase, writeKustomizeBase } from '../../src/manifests/write-kustomize-base.js';
import { mayRewriteGoldens } from '../support/golden.js';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));

function findKubectl(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/bin', '/usr/local/bin'])) {
    const p = path.join(dir, 'kubectl');
    if (existsSync(p)) return p;
  }
  return undefined;
}

function kubectlVersion(kubectl: string): string {
  try {
    const text = execFileSync(kubectl, ['version', '--client'], { encoding: 'utf8', timeout: 20_000 });
    return /GitVersion:"([^"]+)"/.exec(text)?.[1] ?? /Client Version: (\S+)/.exec(text)?.[1] ?? 'version unknown';
  } catch {
    return 'version unknown';
  }
}

/** What kustomize renders, with sortOptions fifo and no transformers: the resources' documents in order. */
function renderKustomizationByHand(dir: string): unknown[] {
  const k = parse(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[]; sortOptions?: { order: string } };
  expect(k.sortOptions?.order).to.equal('fifo');
  return k.resources.flatMap((f) => parseAllDocuments(readFileSync(path.join(dir, f), 'utf8')).map((d) => d.toJS()).filter(Boolean));
}

/** `kubectl kustomize DIR`; outside CI only, a machine without kubectl reads the base by hand (and says so). */
function kustomize(dir: string): unknown[] {
  const kubectl = findKubectl();
  if (!kubectl) {
    // In CI the real kustomize is the point of these tests: no stand-in.
    if (process.env.CI === 'true') {
      throw new Error('kubectl is not installed, so `kubectl kustomize` cannot be checked: install it (Debian: apt-get install kubernetes-client; .ci/run does)');
    }
    console.log(`      note: kubectl not found; ${dir} checked with the hand-written stand-in for kustomize, not kustomize itself`);
    return renderKustomizationByHand(dir);
  }
  let out: string;
  try {
    out = execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '');
    if (/unknown field "sortOptions"/.test(stderr)) {
      throw new Error(
        `${kubectl} (${kubectlVersion(kubectl)}) bundles a kustomize older than v5.0, which does not know sortOptions: ` +
          'manifests/kustomization.yaml needs `sortOptions: {order: fifo}` to keep `meshgate install`\'s order, so ' +
          '`kubectl apply -k manifests/` needs kubectl 1.27 or later (or a standalone kustomize v5)',
      );
    }
    throw new Error(`${kubectl} kustomize ${dir} failed: ${stderr.trim() || String(err)}`);
  }
  return parseAllDocuments(out).map((d) => d.toJS());
}

/** The two bases: the main install in manifests/, the CRDs (applied first, kept on uninstall) in manifests/crds/. */
const BASES = [
  { dir: MANIFESTS, name: 'manifests/', render: renderKustomizeBase, objects: () => renderInstall(defaultInstallOptions()), command: '`meshgate install`' },
  {
    dir: path.join(MANIFESTS, CRDS_BASE_DIR),
    name: `manifests/${CRDS_BASE_DIR}/`,
    render: renderCrdsKustomizeBase,
    objects: () => renderCrds(defaultInstallOptions()),
    command: '`meshgate install --crds`',
  },
];

describe('manifests/ kustomize bases (the install, and the CRDs in manifests/crds/)', () => {
  if (mayRewriteGoldens('UPDATE_MANIFESTS')) before(() => writeKustomizeBase(MANIFESTS));

  for (const base of BASES) {
    it(`${base.name} is what the builders render (UPDATE_MANIFESTS=1 to regenerate)`, () => {
      const expected = base.render();
      const present = readdirSync(base.dir).filter((f) => f.endsWith('.yaml')).sort();
      expect(present, `files in ${base.name}`).to.deep.equal([...expected.keys()].sort());
      for (const [file, content] of expected) {
        expect(readFileSync(path.join(base.dir, file), 'utf8'), `${base.name}${file} is stale: run UPDATE_MANIFESTS=1 npx mocha --no-config --node-option import=tsx test/manifests/kustomize-base.test.ts`).to.equal(content);
      }
    });

    it(`kustomize yields from ${base.name} the same objects, in the same order, as ${base.command}`, () => {
      const expected = JSON.parse(JSON.stringify(base.objects()));
      expect(kustomize(base.dir)).to.deep.equal(expected);
    });
  }

  it('the main base holds no CRD and does not include the CRDs\' base, so deleting it keeps every Egress and MeshConfig', () => {
    const main = parse(readFileSync(path.join(MANIFESTS, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect(main.resources.some((r) => r.startsWith(CRDS_BASE_DIR))).to.equal(false);
    expect(renderKustomizationByHand(MANIFESTS).map((o: any) => o.kind)).to.not.include('CustomResourceDefinition');
    expect(new Set(renderKustomizationByHand(path.join(MANIFESTS, CRDS_BASE_DIR)).map((o: any) => o.kind))).to.deep.equal(new Set(['CustomResourceDefinition']));
  });
});
