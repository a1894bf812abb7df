import fc from 'fast-check';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { stringify } from 'yaml';
import { fileURLToPath } from 'node:url';
import { applyPatch, type Operation as PatchOperation } from 'rfc6902';
import { parseDocuments } from '../../src/io/yaml-documents.js';
import { resolveProfile } from '../../src/profile.js';
import { DEFAULT_SETTINGS, type MeshgateSettings } from '../../src/settings.js';
import { MeshStore } from '../../src/state/store.js';
import type { KubeObject } from '../../src/state/types.js';
import type { MutationOutcome, ValidationOutcome } from '../../src/vocabulary/admission.js';

/**
 * Shared by the fuzz suites: the seed (fixed unless FUZZ_SEED says otherwise, so CI is
 * reproducible and a failure is replayable), run counts (FUZZ_SCALE multiplies them for a longer
 * hunt), the cluster state the cases run against, and the checks every outcome must pass.
 */

export const FUZZ_SEED = process.env.FUZZ_SEED !== undefined && process.env.FUZZ_SEED !== '' ? Number(process.env.FUZZ_SEED) : 424242;
if (!Number.isInteger(FUZZ_SEED)) throw new Error(`FUZZ_SEED must be an integer, got ${JSON.stringify(process.env.FUZZ_SEED)}: unset it for the default 424242`);

/** FUZZ_SCALE: a positive number that multiplies every run count (1 when unset). Anything else is refused, not read as 0 cases. */
export const FUZZ_SCALE = parseScale(process.env.FUZZ_SCALE);

function parseScale(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    throw new Error(`FUZZ_SCALE must be a positive number such as 0.5, 1 or 10, got ${JSON.stringify(raw)}: unset it for the default scale of 1`);
  }
  return n;
}

/** FUZZ_PATH replays one case (with its seed): the case floors then ask for that one case only. */
export const REPLAYING = process.env.FUZZ_PATH !== undefined && process.env.FUZZ_PATH !== '';
if (REPLAYING && process.env.CI === 'true') {
  throw new Error(`FUZZ_PATH=${JSON.stringify(process.env.FUZZ_PATH)} is set with CI=true: it replays one case per target instead of the full run; unset it in CI (.ci/run does)`);
}

/** `n` cases at FUZZ_SCALE (at least 1). */
export function scaledRuns(n: number): number {
  return Math.max(1, Math.round(n * FUZZ_SCALE));
}

/** fast-check parameters for one target: the seed, `numRuns` scaled, and FUZZ_PATH to replay one case. */
export function fuzzParameters<T>(numRuns: number): fc.Parameters<T> {
  return {
    seed: FUZZ_SEED,
    numRuns: scaledRuns(numRuns),
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
    // Failures print the seed, the path and the shrunk counterexample. A run (or a shrink) that
    // takes over two minutes is stopped and counts as a failure: a hang is a finding too.
    interruptAfterTimeLimit: 120_000,
    markInterruptAsFailure: true,
  };
}

/**
 * Counts the cases a suite really runs (a predicate call each), so a suite can fail when it ran
 * fewer than it promises: a property that stops early, a scale that rounds to nothing, a sample
 * that came back short. Wrap each predicate with `counted`, and call `expectFloor` after the target.
 */
export class CaseCounter {
  total = 0;
  private current = 0;

  constructor(private readonly suite: string) {}

  counted<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    return (...args: A) => {
      this.total++;
      this.current++;
      return fn(...args);
    };
  }

  /** fc.property whose predicate is counted. */
  readonly property = ((...args: unknown[]) => {
    const predicate = args.pop() as (...a: unknown[]) => unknown;
    return (fc.property as (...a: unknown[]) => unknown)(...args, this.counted(predicate));
  }) as typeof fc.property;

  /** fc.asyncProperty whose predicate is counted. */
  readonly asyncProperty = ((...args: unknown[]) => {
    const predicate = args.pop() as (...a: unknown[]) => unknown;
    return (fc.asyncProperty as (...a: unknown[]) => unknown)(...args, this.counted(predicate));
  }) as typeof fc.asyncProperty;

  /** Adds `n` cases run outside a predicate (e.g. documents the CLI checked). */
  add(n: number): void {
    this.total += n;
    this.current += n;
  }

  /** The target just run ran at least `floor` cases (1 when replaying FUZZ_PATH); resets the per-target count. */
  expectFloor(target: string, floor: number): void {
    const ran = this.current;
    this.current = 0;
    expectAtLeast(`${this.suite}: ${target}`, ran, floor);
  }

  /** The whole suite ran at least `floor` cases. */
  expectTotal(floor: number): void {
    expectAtLeast(`${this.suite}: all targets`, this.total, floor);
  }
}

function expectAtLeast(what: string, ran: number, floor: number): void {
  const required = REPLAYING ? Math.min(1, floor) : floor;
  if (!(ran >= required)) {
    throw new Error(`${what} ran ${ran} cases, below its floor of ${required} (FUZZ_SCALE=${FUZZ_SCALE}, FUZZ_SEED=${FUZZ_SEED}${REPLAYING ? ', replaying FUZZ_PATH' : ''})`);
  }
}

const examplesState = fileURLToPath(new URL('../../examples/state/', import.meta.url));

/** examples/state (enrolled `curl`, the osm-system MeshConfig, the route group `egress-http-route`). */
export function exampleStateObjects(): KubeObject[] {
  const files = ['namespace-curl.yaml', 'osm-mesh-config.yaml', 'egress-http-route.yaml'];
  return files.flatMap((f) => parseDocuments(f, readFileSync(examplesState + f, 'utf8')).map((d) => d.value as KubeObject));
}

/** Objects that make the rules take their longer paths: server-first uses, an UpstreamTrafficSetting, an unenrolled namespace. */
export function extraStateObjects(): KubeObject[] {
  return [
    {
      apiVersion: 'policy.openservicemesh.io/v1alpha1',
      kind: 'Egress',
      metadata: { name: 'mysql', namespace: 'curl' },
      spec: { sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }], ipAddresses: ['10.0.0.0/8'], ports: [{ number: 3306, protocol: 'tcp-server-first' }] },
    },
    {
      apiVersion: 'policy.openservicemesh.io/v1alpha1',
      kind: 'Egress',
      metadata: { name: 'httpbin-80', namespace: 'curl' },
      spec: { sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }], hosts: ['httpbin.org'], ports: [{ number: 80, protocol: 'http' }] },
    },
    { apiVersion: 'policy.openservicemesh.io/v1alpha1', kind: 'UpstreamTrafficSetting', metadata: { name: 'settings', namespace: 'curl' }, spec: { host: 'httpbin.org' } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'outside', labels: { 'kubernetes.io/metadata.name': 'outside' } } },
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'default', labels: { 'openservicemesh.io/monitored-by': 'osm' }, annotations: { 'openservicemesh.io/sidecar-injection': 'enabled' } },
    },
  ];
}

/** A store with the example state, the extras, and optionally a fuzzed MeshConfig in place of the example one. */
export function fuzzStore(meshConfig?: Record<string, unknown>): MeshStore {
  const store = new MeshStore(resolveProfile('osm'));
  for (const o of [...exampleStateObjects(), ...extraStateObjects()]) store.upsert(o);
  if (meshConfig) store.upsert({ ...meshConfig, apiVersion: 'config.openservicemesh.io/v1alpha2', kind: 'MeshConfig', metadata: { name: 'osm-mesh-config', namespace: 'osm-system' } } as KubeObject);
  return store;
}

/** Valid settings (the CLI checks flags at the edge, so the core only ever sees these). */
export const settingsArb: fc.Arbitrary<MeshgateSettings> = fc.record({
  clusterCIDRs: fc.subarray(['10.96.0.0/12', '10.244.0.0/16', 'fd00:10:96::/108']),
  sidecarMode: fc.constantFrom('classic' as const, 'native' as const),
  bypassGuard: fc.constantFrom('deny' as const, 'warn' as const, 'off' as const),
  podOptOut: fc.constantFrom('allow' as const, 'warn' as const, 'deny' as const),
  iptablesBackend: fc.constantFrom('auto' as const, 'nft' as const, 'legacy' as const),
  defaultSidecarImage: fc.constant(DEFAULT_SETTINGS.defaultSidecarImage),
  defaultInitImage: fc.constant(DEFAULT_SETTINGS.defaultInitImage),
  version: fc.constant(DEFAULT_SETTINGS.version),
  xds: fc.constantFrom(DEFAULT_SETTINGS.xds, { ...DEFAULT_SETTINGS.xds, caPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' }),
});

// ---- outcome checks (throw an Error naming the broken promise) ----

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/** Line breaks a terminal honours: a denial is one line. */
const LINE_BREAK = /[\r\n]/;

function fail(message: string): never {
  throw new Error(message);
}

/** A warning as kubectl shows it: one line, no control characters, at most 256 characters. */
export function checkWarnings(warnings: unknown): void {
  if (!Array.isArray(warnings)) fail(`warnings is not an array: ${JSON.stringify(warnings)}`);
  for (const w of warnings) {
    if (typeof w !== 'string') fail(`warning is not a string: ${JSON.stringify(w)}`);
    if (w.trim() === '') fail('empty warning');
    if (CONTROL.test(w)) fail(`warning has a control character or line break: ${JSON.stringify(w)}`);
    if (Array.from(w).length > 256) fail(`warning longer than 256 characters (${Array.from(w).length}): ${JSON.stringify(w.slice(0, 120))}...`);
  }
}

const FIELD_ERROR_TYPES = new Set([
  'FieldValueRequired',
  'FieldValueInvalid',
  'FieldValueNotSupported',
  'FieldValueNotFound',
  'FieldValueDuplicate',
  'FieldValueForbidden',
  'FieldValueTooLong',
  'FieldValueTooMany',
  'FieldValueTypeInvalid',
]);

export function checkValidationOutcome(o: ValidationOutcome): void {
  if (o === null || typeof o !== 'object') fail(`outcome is not an object: ${String(o)}`);
  if (!Array.isArray(o.errors)) fail('outcome.errors is not an array');
  for (const e of o.errors) {
    if (!FIELD_ERROR_TYPES.has(e.type)) fail(`unknown field error type ${JSON.stringify(e.type)}`);
    if (typeof e.field !== 'string' || e.field === '') fail(`field error without a field: ${JSON.stringify(e)}`);
    if (typeof e.message !== 'string' || e.message === '') fail(`field error without a message: ${JSON.stringify(e)}`);
    // Not checked for line breaks: hints echo the user's value (e.g. a host with a newline); the webhook makes them one line.
  }
  if (o.forbidden !== undefined) {
    if (typeof o.forbidden !== 'string' || o.forbidden.trim() === '') fail(`forbidden is not a message: ${JSON.stringify(o.forbidden)}`);
    if (LINE_BREAK.test(o.forbidden)) fail(`forbidden message spans lines: ${JSON.stringify(o.forbidden)}`);
  }
  checkWarnings(o.warnings);
}

const PATCH_OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

export interface PatchedPod {
  metadata?: { annotations?: Record<string, string> };
  spec?: { containers?: Array<{ name?: unknown }>; initContainers?: Array<{ name?: unknown }> };
}

function containerNames(pod: unknown): unknown[] {
  const spec = (pod as PatchedPod | null)?.spec;
  const list = (l: unknown) => (Array.isArray(l) ? l.map((c) => (c && typeof c === 'object' ? (c as { name?: unknown }).name : undefined)) : []);
  return [...list(spec?.containers), ...list(spec?.initContainers)];
}

export function hasUniqueContainerNames(pod: unknown): boolean {
  const names = containerNames(pod);
  return names.every((n) => typeof n === 'string') && new Set(names).size === names.length;
}

/**
 * A mutation outcome is well formed; a patch applies (RFC 6902, the `rfc6902` package, as the
 * API server would) to the object as sent; the result keeps container names unique when the input
 * had them unique. Returns the patched object (undefined when there is no patch).
 */
export function checkMutationOutcome(o: MutationOutcome, object: unknown): unknown {
  if (o === null || typeof o !== 'object') fail(`outcome is not an object: ${String(o)}`);
  checkWarnings(o.warnings);
  switch (o.action) {
    case 'skip':
      if (typeof o.reason !== 'string') fail('skip without a reason');
      return undefined;
    case 'deny':
      if (typeof o.message !== 'string' || o.message.trim() === '') fail('deny without a message');
      if (LINE_BREAK.test(o.message)) fail(`deny message spans lines: ${JSON.stringify(o.message)}`);
      return undefined;
    case 'patch': {
      if (!Array.isArray(o.patch)) fail('patch is not an array');
      for (const op of o.patch) {
        if (!PATCH_OPS.has(op.op)) fail(`unknown patch op ${JSON.stringify(op.op)}`);
        if (typeof op.path !== 'string' || (op.path !== '' && !op.path.startsWith('/'))) fail(`bad patch path ${JSON.stringify(op.path)}`);
      }
      // The patch must survive the trip as JSON (the webhook base64-encodes JSON.stringify of it).
      const ops = JSON.parse(JSON.stringify(o.patch)) as PatchOperation[];
      const target = structuredClone(object);
      const results = applyPatch(target, ops);
      results.forEach((e, i) => {
        if (e) fail(`patch operation ${i} ${JSON.stringify(ops[i]).slice(0, 200)} does not apply: ${e.name}: ${e.message}`);
      });
      if (hasUniqueContainerNames(object) && !hasUniqueContainerNames(target)) {
        fail(`injection made container names collide: ${JSON.stringify(containerNames(target))}`);
      }
      return target;
    }
    default:
      return fail(`unknown action ${JSON.stringify((o as { action?: unknown }).action)}`);
  }
}

/**
 * The object as it arrives over the wire: a JSON round trip (plain prototypes, no shared
 * references, `__proto__` as an own key, as JSON.parse makes it).
 */
export function asJson<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** Runs `fn` and fails if it changed `input` (the core is pure: it never writes to what it is given). */
export function unchanged<R>(input: unknown, fn: () => R): R {
  const before = JSON.stringify(input);
  const result = fn();
  if (JSON.stringify(input) !== before) fail('the core modified its input object');
  return result;
}

/** A fresh `--state` directory with the example state and the extras (for servers and the CLI). Remove it with rmSync. */
export function writeStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-fuzz-state-'));
  const objects = [...exampleStateObjects(), ...extraStateObjects()];
  writeFileSync(join(dir, 'state.yaml'), objects.map((o) => stringify(o)).join('---\n'));
  return dir;
}

/** A pino logger that counts error-level lines (an unexpected exception in the server logs one). */
export function countingLogger(): { logger: Logger; errors: string[] } {
  const errors: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        const parsed = JSON.parse(line) as { level?: number };
        if ((parsed.level ?? 0) >= 50) errors.push(line.slice(0, 2000));
      }
      cb();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), errors };
}
