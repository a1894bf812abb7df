/** Renders a path like apimachinery's `field.Path`: `spec.ports[0].number`, `spec.headers[x-id]`. */
export type PathSegment = string | number;

/** Fields whose children are map keys (rendered `[key]`, not `.key`). */
const MAP_FIELDS = new Set(['headers', 'labels', 'annotations', 'limits', 'requests']);

export function renderPath(segments: readonly PathSegment[]): string {
  let out = '';
  let parent: PathSegment | undefined;
  for (const seg of segments) {
    if (typeof seg === 'number') out += `[${seg}]`;
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
