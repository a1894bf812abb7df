import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { defaultInstallOptions } from '../../src/manifests/defaults.js';
import { renderInstall } from '../../src/manifests/render-install.js';
import { renderKustomizeBase, writeKustomizeBase } from '../../src/manifests/write-kustomize-base.js';
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

describe('manifests/ kustomize base', () => {
  it('is what the builders render (UPDATE_MANIFESTS=1 to regenerate)', () => {
    if (mayRewriteGoldens('UPDATE_MANIFESTS')) writeKustomizeBase(MANIFESTS);
    const expected = renderKustomizeBase();
    const present = readdirSync(MANIFESTS).filter((f) => f.endsWith('.yaml')).sort();
    expect(present, 'files in manifests/').to.deep.equal([...expected.keys()].sort());
    for (const [file, content] of expected) {
      expect(readFileSync(path.join(MANIFESTS, file), 'utf8'), `manifests/${file} is stale: run UPDATE_MANIFESTS=1 npx mocha test/manifests/kustomize-base.test.ts`).to.equal(content);
    }
  });

  it('kustomize yields the same objects, in the same order, as `meshgate install`', function () {
    const expected = JSON.parse(JSON.stringify(renderInstall(defaultInstallOptions())));
    const kubectl = findKubectl();
    if (!kubectl) {
      // In CI the real kustomize is the point of this test: no stand-in.
      if (process.env.CI === 'true') {
        throw new Error('kubectl is not installed, so `kubectl kustomize manifests/` cannot be checked: install it (Debian: apt-get install kubernetes-client; .ci/run does)');
      }
      // Outside CI (a machine without kubectl) the base is read as kustomize would read it, and said so.
      console.log('      note: kubectl not found; manifests/ checked with the hand-written stand-in for kustomize, not kustomize itself');
      expect(renderKustomizationByHand(MANIFESTS)).to.deep.equal(expected);
      return;
    }
    let out: string;
    try {
      out = execFileSync(kubectl, ['kustomize', MANIFESTS], { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? '');
      if (/unknown field "sortOptions"/.test(stderr)) {
        throw new Error(
          `${kubectl} (${kubectlVersion(kubectl)}) bundles a kustomize older than v5.0, which does not know sortOptions: ` +
            'manifests/kustomization.yaml needs `sortOptions: {order: fifo}` to keep `meshgate install`\'s order, so ' +
            '`kubectl apply -k manifests/` needs kubectl 1.27 or later (or a standalone kustomize v5)',
        );
      }
      throw new Error(`${kubectl} kustomize ${MANIFESTS} failed: ${stderr.trim() || String(err)}`);
    }
    expect(parseAllDocuments(out).map((d) => d.toJS())).to.deep.equal(expected);
  });
});
