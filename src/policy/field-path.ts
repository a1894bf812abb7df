import { quote } from '../vocabulary/field-errors.js';

/** Renders a path like apimachinery's `field.Path`: `spec.ports[0].number`, `spec.headers[x-id]`. */
export type PathSegment = string | number;

/** Fields whose children are map keys (rendered `[key]`, not `.key`). */
const MAP_FIELDS = new Set(['headers', 'labels', 'annotations', 'limits', 'requests']);

/** Field names as Kubernetes spells them; anything else (an unknown key a user typed) is quoted. */
const PLAIN_SEGMENT = /^[A-Za-z0-9_$@./-]*$/;

export function renderPath(segments: readonly PathSegment[]): string {
  let out = '';
  let parent: PathSegment | undefined;
  for (const seg of segments) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (!PLAIN_SEGMENT.test(seg)) out += `[${quote(seg)}]`;
    else if (typeof parent === 'string' && MAP_FIELDS.has(parent)) out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
    parent = seg;
  }
  return out;
}

export function valueAt(root: unknown, segments: readonly PathSegment[]): unknown {
  let v: unknown = root;
  for (const seg of segments) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}
