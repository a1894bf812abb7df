/**
 * `npm run build`, after tsc: writes the Envoy descriptors meshgate's ADS server loads at runtime
 * (src/xds/envoy-types.ts) to dist/xds/envoy-descriptors.binpb. Only the types the server sends
 * and receives: DiscoveryRequest/Response and the resources the egress compiler emits, with every
 * extension config its `typed_config`s name. Runs from dist/scripts/ (or from scripts/ under tsx).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { buildFileDescriptorSet, XDS_RUNTIME_PROTOS } from './envoy-descriptors.js';

/** The repository root: this file sits in scripts/ (tsx) or dist/scripts/ (compiled). */
export function repositoryRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.endsWith(join('dist', 'scripts')) ? join(here, '..', '..') : join(here, '..');
}

export const DESCRIPTORS_RELATIVE_PATH = join('dist', 'xds', 'envoy-descriptors.binpb');

export function writeEnvoyDescriptors(out = join(repositoryRoot(), DESCRIPTORS_RELATIVE_PATH)): { path: string; bytes: number; files: number } {
  const set = buildFileDescriptorSet(XDS_RUNTIME_PROTOS);
  const bytes = toBinary(FileDescriptorSetSchema, set);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, bytes);
  return { path: out, bytes: bytes.length, files: set.file.length };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = writeEnvoyDescriptors();
  process.stdout.write(`envoy descriptors: ${r.files} files, ${r.bytes} bytes -> ${r.path}\n`);
}
