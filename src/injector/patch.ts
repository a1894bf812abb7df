import type { JsonPatchOperation } from '../vocabulary/admission.js';
import { RenderCache } from './render-cache.js';

/**
 * The JSON Patch (RFC 6902) that turns `original` (request.object exactly as sent) into `mutated`.
 *
 * Injection is copy-on-write: pod' shares every subtree it does not change with the request's
 * object. This diff relies on that: a subtree that is the same object on both sides is skipped
 * without being visited, and added values are referenced, never copied (they are serialized once,
 * right after). A general-purpose diff (fast-json-patch's `compare`, used before) deep-clones every
 * added value through JSON, which was a third of the cost of injecting a pod (README, Benchmarks).
 *
 * Every `add` lands under a parent that exists in `original` (a missing map or list is added
 * whole), as RFC 6902 requires of the API server's patch. Lists that only gained entries at the
 * front or the back (how injection changes container lists) get `add` operations at those
 * indexes, so the pod's own entries are never repeated in the patch; any other list change is
 * patched index by index.
 */
export function diffPatch(original: unknown, mutated: unknown): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  diffValue(original, mutated, '', ops);
  return ops;
}

type Json = Record<string, unknown>;

function isObjectOrArray(v: unknown): v is Json | unknown[] {
  return typeof v === 'object' && v !== null;
}

function diffValue(a: unknown, b: unknown, path: string, ops: JsonPatchOperation[]): void {
  if (a === b) return;
  if (isObjectOrArray(a) && isObjectOrArray(b) && Array.isArray(a) === Array.isArray(b)) {
    if (Array.isArray(a)) diffList(a, b as unknown[], path, ops);
    else diffMap(a as Json, b as Json, path, ops);
    return;
  }
  if (!isObjectOrArray(a) && !isObjectOrArray(b) && Object.is(a, b)) return;
  ops.push({ op: 'replace', path, value: b });
}

function diffMap(a: Json, b: Json, path: string, ops: JsonPatchOperation[]): void {
  for (const key of Object.keys(a)) {
    if (a[key] === undefined) continue;
    const child = `${path}/${escapeToken(key)}`;
    if (!Object.hasOwn(b, key) || b[key] === undefined) ops.push({ op: 'remove', path: child });
    else diffValue(a[key], b[key], child, ops);
  }
  for (const key of Object.keys(b)) {
    if (b[key] === undefined || (Object.hasOwn(a, key) && a[key] !== undefined)) continue;
    ops.push({ op: 'add', path: `${path}/${escapeToken(key)}`, value: b[key] });
  }
}

function diffList(a: unknown[], b: unknown[], path: string, ops: JsonPatchOperation[]): void {
  const added = b.length - a.length;
  if (added > 0 && a.every((v, i) => v === b[i])) {
    for (let i = a.length; i < b.length; i++) ops.push({ op: 'add', path: `${path}/${i}`, value: b[i] });
    return;
  }
  if (added > 0 && a.every((v, i) => v === b[i + added])) {
    for (let i = 0; i < added; i++) ops.push({ op: 'add', path: `${path}/${i}`, value: b[i] });
    return;
  }
  const common = Math.min(a.length, b.length);
  for (let i = 0; i < common; i++) diffValue(a[i], b[i], `${path}/${i}`, ops);
  for (let i = a.length - 1; i >= b.length; i--) ops.push({ op: 'remove', path: `${path}/${i}` });
  for (let i = a.length; i < b.length; i++) ops.push({ op: 'add', path: `${path}/${i}`, value: b[i] });
}

/** RFC 6901: `~` is written `~0` and `/` is written `~1` inside a path segment. */
function escapeToken(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replace(/~/g, '~0').replace(/\//g, '~1') : key;
}

/**
 * Values whose JSON text is kept after first use: the containers injection adds are rendered once
 * per distinct configuration and shared by every pod that gets them (deep-frozen, so sharing is
 * safe), and the script and bootstrap inside them are the bulk of every patch.
 */
const jsonTexts = new WeakMap<object, string>();

/** Freezes `value` deeply and registers it as shared: serializePatch reuses its JSON text. */
export function shared<T extends object>(value: T): T {
  deepFreeze(value);
  jsonTexts.set(value, JSON.stringify(value));
  return value;
}

function deepFreeze(v: unknown): void {
  if (!isObjectOrArray(v) || Object.isFrozen(v)) return;
  Object.freeze(v);
  for (const child of Object.values(v)) deepFreeze(child);
}

function valueJson(v: unknown): string {
  if (isObjectOrArray(v)) {
    const known = jsonTexts.get(v);
    if (known !== undefined) return known;
    if (Array.isArray(v) && v.some((e) => isObjectOrArray(e) && jsonTexts.has(e))) return `[${v.map(valueJson).join(',')}]`;
  }
  return JSON.stringify(v) ?? 'null';
}

let nextSharedId = 0;
const sharedIds = new WeakMap<object, number>();

/**
 * A key that identifies the patch: shared values by identity, everything else by its JSON text.
 * Undefined when the patch carries large unshared values (nothing worth keeping then).
 */
function patchKey(ops: readonly JsonPatchOperation[]): string | undefined {
  let key = '';
  for (const o of ops) {
    key += `${o.op} ${o.path} ${o.from ?? ''} ${'value' in o ? valueKey(o.value) : ''}\n`;
    if (key.length > MAX_KEY_LENGTH) return undefined;
  }
  return key;
}

const MAX_KEY_LENGTH = 4096;

function valueKey(v: unknown): string {
  if (isObjectOrArray(v)) {
    if (jsonTexts.has(v)) {
      let id = sharedIds.get(v);
      if (id === undefined) sharedIds.set(v, (id = nextSharedId++));
      return `#${id}`;
    }
    if (Array.isArray(v) && v.some((e) => isObjectOrArray(e) && jsonTexts.has(e))) return `[${v.map(valueKey).join(',')}]`;
  }
  return JSON.stringify(v) ?? 'null';
}

const encodedPatches = new RenderCache<string>();

/**
 * The patch as kube-apiserver takes it: base64 of its JSON text. Pods of the same shape in the
 * same configuration get the same patch, so the text is kept per patch (by `patchKey`) and most
 * requests neither serialize nor encode kilobytes of script and bootstrap again.
 */
export function encodePatch(ops: readonly JsonPatchOperation[]): string {
  const key = patchKey(ops);
  const encode = () => Buffer.from(serializePatch(ops), 'utf8').toString('base64');
  return key === undefined ? encode() : encodedPatches.get(key, encode);
}

/** The patch as JSON text, the same as JSON.stringify(ops), reusing the text of shared values. */
export function serializePatch(ops: readonly JsonPatchOperation[]): string {
  const parts: string[] = [];
  for (const o of ops) {
    let s = `{"op":${JSON.stringify(o.op)},"path":${JSON.stringify(o.path)}`;
    if (o.from !== undefined) s += `,"from":${JSON.stringify(o.from)}`;
    if ('value' in o) s += `,"value":${valueJson(o.value)}`;
    parts.push(`${s}}`);
  }
  return `[${parts.join(',')}]`;
}
