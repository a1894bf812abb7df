/**
 * The layering ARCHITECTURE.md describes, checked on the real import graph of src/: every arrow
 * points down (shell → composition → core parts → vocabulary → state types), and the core parts
 * never lean on each other. A new import that breaks this fails here, naming the file and the edge.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** `src`-relative module → the src-relative modules it imports (relative imports only). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const spec = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]/g;
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(spec)].map((m) => relative(SRC, resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'))));
    graph.set(relative(SRC, file), targets);
  }
  return graph;
}

/** The layer of a module: its top-level folder, or the file itself at the top. */
const layerOf = (module: string) => (module.includes('/') ? module.slice(0, module.indexOf('/')) : module);

const SHELL = ['webhook', 'xds', 'cli', 'cluster', 'certs', 'manifests', 'io'];
const CORE_PARTS = ['policy', 'injector', 'egress'];
/** What each core layer may import besides itself. */
const ALLOWED: Record<string, string[]> = {
  policy: ['vocabulary', 'state', 'profile.ts', 'settings.ts', 'version.ts'],
  injector: ['vocabulary', 'state', 'profile.ts', 'settings.ts', 'version.ts'],
  egress: ['vocabulary', 'state', 'profile.ts', 'settings.ts', 'version.ts'],
  'validate-admission.ts': ['policy', 'injector', 'vocabulary', 'state', 'settings.ts'],
  vocabulary: ['state', 'profile.ts'],
  state: ['profile.ts'],
  'profile.ts': [],
  'settings.ts': ['version.ts', 'images.ts'],
  'images.ts': ['version.ts'],
};

describe('layout: the import graph of src/', () => {
  const graph = importGraph();
  const edges = [...graph].flatMap(([from, tos]) => tos.map((to) => ({ from, to, a: layerOf(from), b: layerOf(to) })));

  it('finds the modules and their imports (the check is not vacuous)', () => {
    expect(graph.size).to.be.greaterThan(80);
    expect(edges.some((e) => e.a === 'policy' && e.b === 'vocabulary')).to.equal(true);
    expect(edges.some((e) => e.a === 'webhook' && e.b === 'validate-admission.ts')).to.equal(true);
  });

  it('has no arrow from the core into the shell', () => {
    const bad = edges.filter((e) => ALLOWED[e.a] && SHELL.includes(e.b));
    expect(bad.map((e) => `${e.from} -> ${e.to}`)).to.deep.equal([]);
  });

  it('has no arrows between policy/, injector/ and egress/', () => {
    const bad = edges.filter((e) => CORE_PARTS.includes(e.a) && CORE_PARTS.includes(e.b) && e.a !== e.b);
    expect(bad.map((e) => `${e.from} -> ${e.to}`)).to.deep.equal([]);
  });

  it('lets each core layer import only the layers below it', () => {
    const bad = edges.filter((e) => ALLOWED[e.a] && e.a !== e.b && !ALLOWED[e.a]!.includes(e.b));
    expect(bad.map((e) => `${e.from} -> ${e.to}`)).to.deep.equal([]);
  });
});
