import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** One YAML document from an input, with where it came from (for error messages). */
export interface SourcedDocument {
  /** File path, or `-` for standard input. */
  source: string;
  /** 0-based index of the document within its source. */
  index: number;
  value: unknown;
}

/** A problem reading or parsing an input; the CLI maps it to exit code 2. */
export class InputError extends Error {
  constructor(
    readonly source: string,
    message: string,
  ) {
    super(`${source}: ${message}`);
    this.name = 'InputError';
  }
}

const YAML_EXT = /\.(ya?ml|json)$/i;

/** Expands `FILE|DIR|-` arguments into files (directories recursively, YAML/JSON only, sorted). */
export async function expandInputs(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push('-');
      continue;
    }
    let st;
    try {
      st = await stat(p);
    } catch (err) {
      throw new InputError(p, describeFsError(err));
    }
    if (st.isDirectory()) {
      const entries = await readdir(p, { withFileTypes: true });
      const names = entries.sort((a, b) => a.name.localeCompare(b.name));
      const nested: string[] = [];
      for (const e of names) {
        if (e.isDirectory()) nested.push(join(p, e.name));
        else if (YAML_EXT.test(e.name)) out.push(join(p, e.name));
      }
      out.push(...(await expandInputs(nested)));
    } else {
      out.push(p);
    }
  }
  return out;
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return err instanceof Error ? err.message : String(err);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses multi-document YAML text; empty documents are skipped; `List` objects are flattened. */
export function parseDocuments(source: string, text: string): SourcedDocument[] {
  // JSON is YAML, but JSON.parse is an order of magnitude faster and lighter on large state dumps
  // (`kubectl get ... -o json`); anything it refuses goes through the YAML parser for a precise error.
  if (/\.json$/i.test(source)) {
    const json = tryParseJson(text);
    if (json.ok) return json.value === null ? [] : (isList(json.value) ? (json.value as { items: unknown[] }).items : [json.value]).map((value) => ({ source, index: 0, value }));
  }
  const docs = parseAllDocuments(text, { uniqueKeys: false });
  const out: SourcedDocument[] = [];
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const line = e.linePos?.[0]?.line;
      throw new InputError(source, `invalid YAML${line ? ` at line ${line}` : ''} in document ${index + 1}: ${e.message.split('\n')[0]}`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    } catch (err) {
      // An alias without its anchor, or too many aliases (a "billion laughs" bomb), only shows up here.
      throw new InputError(source, `invalid YAML in document ${index + 1}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
    }
    if (value === null || value === undefined) return;
    const items = isList(value) ? (value as { items: unknown[] }).items : [value];
    for (const item of items) out.push({ source, index, value: item });
  });
  return out;
}

function tryParseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function isList(v: unknown): boolean {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items);
}

/**
 * The documents of every input (`FILE|DIR|-`), one file at a time: only one file's text and
 * parsed documents are held at once, so a large state directory loads in bounded memory.
 */
export async function* documentsByFile(paths: string[]): AsyncGenerator<SourcedDocument[]> {
  for (const f of await expandInputs(paths)) {
    let text: string;
    try {
      text = f === '-' ? await readStdin() : await readFile(f, 'utf8');
    } catch (err) {
      throw new InputError(f, describeFsError(err));
    }
    yield parseDocuments(f, text);
  }
}

/** Reads every document of every input (`FILE|DIR|-`). */
export async function readDocuments(paths: string[]): Promise<SourcedDocument[]> {
  const out: SourcedDocument[] = [];
  for await (const docs of documentsByFile(paths)) out.push(...docs);
  return out;
}
