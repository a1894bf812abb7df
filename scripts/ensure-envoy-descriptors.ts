/**
 * `npm run build`, after `tsc -b`: writes the Envoy descriptors (build-envoy-descriptors.ts) only when
 * they are older than what they are made from, so `npm start` on an unchanged tree does not spend
 * half a second (loading protobufjs and parsing Envoy's .proto files) redoing them. They are made
 * from the two compiled scripts and the installed .proto files; every `npm ci` or `npm install`
 * rewrites node_modules/.package-lock.json, so its time stands for the installed packages.
 */
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The output, relative to the repository root: build-envoy-descriptors.ts's DESCRIPTORS_RELATIVE_PATH
 * (a test holds them equal; importing that module here would load what this script avoids loading). */
export const DESCRIPTORS_OUTPUT = join('dist', 'xds', 'envoy-descriptors.binpb');

/** What the descriptors are made from, relative to the repository root. */
export const DESCRIPTOR_INPUTS = [
  join('dist', 'scripts', 'build-envoy-descriptors.js'),
  join('dist', 'scripts', 'envoy-descriptors.js'),
  join('node_modules', '.package-lock.json'),
];

function mtimeMs(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/**
 * Why `output` must be (re)written, or undefined when it is newer than every input. A missing input
 * counts as changed: without it nothing says the output is current.
 */
export function staleBecause(root: string, output: string, inputs: readonly string[] = DESCRIPTOR_INPUTS): string | undefined {
  const out = mtimeMs(join(root, output));
  if (out === undefined) return `${output} does not exist`;
  for (const input of inputs) {
    const t = mtimeMs(join(root, input));
    if (t === undefined) return `${input} does not exist`;
    if (t >= out) return `${input} is newer`;
  }
  return undefined;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..'); // this runs from dist/scripts/
  const why = staleBecause(root, DESCRIPTORS_OUTPUT);
  if (why === undefined) {
    process.stdout.write(`envoy descriptors: up to date (${DESCRIPTORS_OUTPUT})\n`);
  } else {
    // Loaded only when needed: loading it is most of what this script saves.
    const { writeEnvoyDescriptors } = await import('./build-envoy-descriptors.js');
    const r = writeEnvoyDescriptors(join(root, DESCRIPTORS_OUTPUT));
    process.stdout.write(`envoy descriptors (${why}): ${r.files} files, ${r.bytes} bytes -> ${r.path}\n`);
  }
}
