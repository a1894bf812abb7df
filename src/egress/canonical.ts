import { createHash } from 'node:crypto';
import type { Json } from './proxy-config.js';

/**
 * Canonical JSON: object keys sorted at every depth, no spaces. Two replicas (or two runs) that
 * compile the same state print the same bytes, so their versions agree and a proxy that
 * reconnects to the other replica is not pushed anything.
 */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k]!)}`).join(',')}}`;
}

/**
 * A version that is a hash of the content: 16 hex digits of SHA-256 over its JSON. The value must
 * already be canonical (the compiler writes every object's keys in sorted order, and its tests
 * hold it to that), so hashing needs no second pass.
 */
export function contentVersion(value: Json): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/** The same value with its keys in canonical order (what the CLI prints and ADS sends). */
export function canonicalize<T extends Json>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(canonicalize) as T;
  const out: { [k: string]: Json } = {};
  for (const k of Object.keys(value).sort()) out[k] = canonicalize(value[k]!);
  return out as T;
}
