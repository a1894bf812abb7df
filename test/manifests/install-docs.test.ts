import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defaultInstallOptions } from '../../src/manifests/defaults.js';
import { renderCrds, renderInstall } from '../../src/manifests/render-install.js';

/**
 * docs/install.md's install works on a fresh cluster only in one order: the CRDs, a wait until they
 * are established, then the install (whose MeshConfig is one of their objects). This reads the
 * documented commands and checks the order, and that the wait selects every CRD and nothing else.
 */

const DOC = readFileSync(fileURLToPath(new URL('../../docs/install.md', import.meta.url)), 'utf8');

/** The shell lines of the fenced ```bash blocks under a heading, comments dropped. */
function commandsUnder(heading: string): string[][] {
  const section = DOC.slice(DOC.indexOf(`\n## ${heading}\n`), DOC.indexOf('\n## ', DOC.indexOf(`\n## ${heading}\n`) + 1));
  return [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) =>
    m[1]!
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter((l) => l && !l.startsWith('#')),
  );
}

const WAIT = /^kubectl wait --for condition=established crd -l ([\w./-]+)=([\w.-]+)$/;

describe('docs/install.md', () => {
  const [plain, kustomize] = commandsUnder('Install');

  it('installs with meshgate install: CRDs, wait until established, then the rest', () => {
    expect(plain).to.not.equal(undefined);
    const crds = plain!.indexOf('bin/meshgate install --crds | kubectl apply -f -');
    const wait = plain!.findIndex((l) => WAIT.test(l));
    const rest = plain!.indexOf('bin/meshgate install | kubectl apply -f -');
    expect([crds, wait, rest].every((i) => i >= 0), plain!.join('\n')).to.equal(true);
    expect(crds).to.be.lessThan(wait);
    expect(wait).to.be.lessThan(rest);
  });

  it('installs the kustomize bases in the same order: manifests/crds/, wait, manifests/', () => {
    expect(kustomize).to.not.equal(undefined);
    const crds = kustomize!.indexOf('kubectl apply -k manifests/crds/');
    const wait = kustomize!.findIndex((l) => WAIT.test(l));
    const rest = kustomize!.indexOf('kubectl apply -k manifests/');
    expect([crds, wait, rest].every((i) => i >= 0), kustomize!.join('\n')).to.equal(true);
    expect(crds).to.be.lessThan(wait);
    expect(wait).to.be.lessThan(rest);
  });

  it('the wait selects exactly the CRDs: every CRD has the label, no other object of the install does', () => {
    const [, key, value] = WAIT.exec(plain!.find((l) => WAIT.test(l))!)!;
    const crds = renderCrds(defaultInstallOptions());
    expect(crds.length).to.be.greaterThan(0);
    for (const c of crds) expect(c.metadata.labels?.[key!], c.metadata.name).to.equal(value);
    for (const o of renderInstall(defaultInstallOptions())) expect(o.metadata.labels?.[key!], `${o.kind} ${o.metadata.name}`).to.not.equal(value);
  });

  it('uninstalls without deleting the CRDs: the uninstall deletes `meshgate install`, the CRDs only in a separate, explained command', () => {
    const [uninstall] = commandsUnder('Uninstall');
    expect(uninstall).to.deep.equal(['bin/meshgate install | kubectl delete --ignore-not-found -f -']);
  });
});
