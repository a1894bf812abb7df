import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DESCRIPTORS_RELATIVE_PATH } from '../../scripts/build-envoy-descriptors.js';
import { DESCRIPTOR_INPUTS, DESCRIPTORS_OUTPUT, staleBecause } from '../../scripts/ensure-envoy-descriptors.js';

/** `npm run build` rewrites the Envoy descriptors only when something they are made from is newer. */
describe('npm run build: the Envoy descriptors are rewritten only when stale', () => {
  let root: string;
  const put = (rel: string, seconds: number) => {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, 'x');
    utimesSync(p, seconds, seconds);
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'meshgate-descriptors-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('writes to the path the build script and the server use', () => {
    expect(DESCRIPTORS_OUTPUT).to.equal(DESCRIPTORS_RELATIVE_PATH);
  });

  it('is up to date when the output is newer than every input', () => {
    for (const input of DESCRIPTOR_INPUTS) put(input, 1_000);
    put(DESCRIPTORS_OUTPUT, 2_000);
    expect(staleBecause(root, DESCRIPTORS_OUTPUT)).to.equal(undefined);
  });

  it('is stale when the output is missing', () => {
    for (const input of DESCRIPTOR_INPUTS) put(input, 1_000);
    expect(staleBecause(root, DESCRIPTORS_OUTPUT)).to.equal(`${DESCRIPTORS_OUTPUT} does not exist`);
  });

  for (const changed of DESCRIPTOR_INPUTS) {
    it(`is stale when ${changed} is newer than the output, or missing`, () => {
      for (const input of DESCRIPTOR_INPUTS) put(input, input === changed ? 3_000 : 1_000);
      put(DESCRIPTORS_OUTPUT, 2_000);
      expect(staleBecause(root, DESCRIPTORS_OUTPUT)).to.equal(`${changed} is newer`);
      rmSync(join(root, changed));
      expect(staleBecause(root, DESCRIPTORS_OUTPUT)).to.equal(`${changed} does not exist`);
    });
  }
});
