/**
 * Label and field selectors as kube-apiserver parses them (the subset clients use):
 * `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`; fields `metadata.name`,
 * `metadata.namespace` with `=`, `==`, `!=`.
 */
export type Requirement =
  | { key: string; op: 'exists' | 'notexists' }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: '=' | '!='; values: [string] };

function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out.map((x) => x.trim()).filter(Boolean);
}

export function parseSelector(selector: string | undefined): Requirement[] {
  if (!selector) return [];
  return splitTopLevel(selector).map((term): Requirement => {
    const set = /^(\S+)\s+(in|notin)\s+\((.*)\)$/.exec(term);
    if (set) return { key: set[1]!, op: set[2] as 'in' | 'notin', values: set[3]!.split(',').map((v) => v.trim()) };
    const ne = /^([^!=]+)!=(.*)$/.exec(term);
    if (ne) return { key: ne[1]!.trim(), op: '!=', values: [ne[2]!.trim()] };
    const eq = /^([^!=]+)==?(.*)$/.exec(term);
    if (eq) return { key: eq[1]!.trim(), op: '=', values: [eq[2]!.trim()] };
    if (term.startsWith('!')) return { key: term.slice(1).trim(), op: 'notexists' };
    return { key: term, op: 'exists' };
  });
}

export function matches(reqs: Requirement[], values: Record<string, string | undefined>): boolean {
  return reqs.every((r) => {
    const v = values[r.key];
    switch (r.op) {
      case 'exists':
        return v !== undefined;
      case 'notexists':
        return v === undefined;
      case '=':
        return v === r.values[0];
      case '!=':
        return v !== r.values[0];
      case 'in':
        return v !== undefined && r.values.includes(v);
      case 'notin':
        return v === undefined || !r.values.includes(v);
    }
  });
}
