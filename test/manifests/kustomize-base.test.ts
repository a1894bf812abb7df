import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { defaultInstallOptions } from '../../src/manifests/defaults.js';
import { renderInstall } from '../../src/manifests/render-install.js';
import { renderKustomizeBase, writeKustomizeBase } from '../../src/manifests/write-kustomize-base.js';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));

function findKubectl(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/bin', '/usr/local/bin'])) {
    const p = path.join(dir, 'kubectl');
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** What kustomize renders, with sortOptions fifo and no transformers: the resources' documents in order. */
function renderKustomizationByHand(dir: string): unknown[] {
  const k = parse(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[]; sortOptions?: { order: string } };
  expect(k.sortOptions?.order).to.equal('fifo');
  return k.resources.flatMap((f) => parseAllDocuments(readFileSync(path.join(dir, f), 'utf8')).map((d) => d.toJS()).filter(Boolean));
}

describe('manifests/ kustomize base', () => {
  it('is what the builders render (UPDATE_MANIFESTS=1 to regenerate)', () => {
    if (process.env.UPDATE_MANIFESTS === '1') writeKustomizeBase(MANIFESTS);
    const expected = renderKustomizeBase();
    const present = readdirSync(MANIFESTS).filter((f) => f.endsWith('.yaml')).sort();
    expect(present, 'files in manifests/').to.deep.equal([...expected.keys()].sort());
    for (const [file, content] of expected) {
      expect(readFileSync(path.join(MANIFESTS, file), 'utf8'), `manifests/${file} is stale: run UPDATE_MANIFESTS=1 npx mocha --no-config --node-option import=tsx test/manifests/kustomize-base.test.ts`).to.equal(content);
    }
  });

  it('kustomize yields the same objects, in the same order, as `meshgate install`', () => {
    const expected = JSON.parse(JSON.stringify(renderInstall(defaultInstallOptions())));
    const kubectl = findKubectl();
    // kubectl ships kustomize; without it (a machine without kubectl) the base is read as kustomize would read it.
    const rendered = kubectl
      ? parseAllDocuments(execFileSync(kubectl, ['kustomize', MANIFESTS], { encoding: 'utf8', timeout: 20_000 })).map((d) => d.toJS())
      : renderKustomizationByHand(MANIFESTS);
    expect(rendered).to.deep.equal(expected);
  });
});
