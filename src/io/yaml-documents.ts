import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { constructFromEvents, CORE_SCHEMA, defineMappingTag, defineScalarTag, EVENT_ID, floatCoreTag, NOT_RESOLVED, parseEvents, type Event } from 'js-yaml';
import { createRequire } from 'node:module';

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
    if (json.ok) return sourced(source, [json.value]);
  }
  const plain = parsePlainYaml(text);
  return plain ? sourced(source, plain) : parseDocumentsWithYaml(source, text);
}

/** The documents' values as SourcedDocuments: empty documents skipped, `List` objects flattened. */
function sourced(source: string, values: unknown[]): SourcedDocument[] {
  const out: SourcedDocument[] = [];
  values.forEach((value, index) => {
    if (value === null || value === undefined) return;
    const items = isList(value) ? (value as { items: unknown[] }).items : [value];
    for (const item of items) out.push({ source, index, value: item });
  });
  return out;
}

/**
 * The reference parse (`yaml`, YAML 1.2 core schema), with its error messages (line and document).
 * Exported for the test that holds the fast path to the same values.
 */
export function parseDocumentsWithYaml(source: string, text: string): SourcedDocument[] {
  const docs = yamlLibrary().parseAllDocuments(text, { uniqueKeys: false });
  const list = Array.isArray(docs) ? docs : [docs];
  const values = list.map((doc, index) => {
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const line = e.linePos?.[0]?.line;
      throw new InputError(source, `invalid YAML${line ? ` at line ${line}` : ''} in document ${index + 1}: ${e.message.split('\n')[0]}`);
    }
    try {
      return doc.toJS({ maxAliasCount: 100 }) as unknown;
    } catch (err) {
      // An alias without its anchor, or too many aliases (a "billion laughs" bomb), only shows up here.
      throw new InputError(source, `invalid YAML in document ${index + 1}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
    }
  });
  return sourced(source, values);
}

let yamlModule: typeof import('yaml') | undefined;

/** `yaml`, loaded on first use: most inputs never need it, and `meshgate serve` starts sooner without. */
function yamlLibrary(): typeof import('yaml') {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yamlModule;
}

/**
 * A mapping built the way `yaml`'s toJS builds a plain object: a null key becomes `""`, other
 * scalar keys their String(); a collection as a key is refused (`yaml` stringifies it as YAML
 * text), which sends the input to the reference parse.
 */
const yamlCompatibleMapTag = defineMappingTag<Record<string, unknown>>('tag:yaml.org,2002:map', {
  create: () => ({}),
  identify: (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v),
  addPair: (map, key, value) => {
    if (key !== null && typeof key === 'object') return 'collection as a mapping key';
    const k = key === null ? '' : String(key);
    // `__proto__` (and any inherited name) as an own property, never the prototype.
    if (k in map) Object.defineProperty(map, k, { value, writable: true, enumerable: true, configurable: true });
    else map[k] = value;
    return '';
  },
  has: (map, key) => Object.hasOwn(map, key === null ? '' : String(key)),
  keys: (map) => Object.keys(map),
  get: (map, key) => map[String(key)],
});
/** Core-schema floats, and like `yaml` a number too large for a double is ±Infinity (js-yaml leaves it a string). */
const CORE_NUMBER = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const yamlCompatibleFloatTag = defineScalarTag<number>('tag:yaml.org,2002:float', {
  implicit: true,
  implicitFirstChars: floatCoreTag.implicitFirstChars,
  resolve: (source, isExplicit, tagName) => {
    const value = floatCoreTag.resolve(source, isExplicit, tagName);
    return value === NOT_RESOLVED && !isExplicit && CORE_NUMBER.test(source) ? Number.parseFloat(source) : value;
  },
  identify: floatCoreTag.identify,
  represent: floatCoreTag.represent,
});
const PLAIN_SCHEMA = CORE_SCHEMA.withTags(yamlCompatibleMapTag, yamlCompatibleFloatTag);

/**
 * The common case fast: YAML without anchors, aliases, tags or directives (what kubectl, Helm and
 * GitOps trees write), parsed by js-yaml with the same YAML 1.2 core schema, several times faster
 * than `yaml` on a large state file. Anything else, and any error, returns undefined so the input
 * goes through the reference parse: its values, its limits on aliases, its error messages.
 */
function parsePlainYaml(text: string): unknown[] | undefined {
  // Left to the reference: a directive (or a line that looks like one); the document end marker
  // `...`, after which the two count documents differently (`validate` names documents by number);
  // tabs, and lines that start with an empty key (`: x`, `- : x`) or an indented `---`, where js-yaml takes
  // some text that `yaml` refuses or reads otherwise.
  if (text.startsWith('%') || text.includes('\n%') || text.startsWith('...') || text.includes('\n...') || text.includes('\t')) return undefined;
  if (/(?:^|\n)(?: *(?:- +)*:(?:[ \r\n]|$)| +---)/.test(text)) return undefined;
  const values: unknown[] = [];
  try {
    for (const chunk of documentChunks(text)) {
      const events = parseEvents(chunk, {});
      if (!isPlain(events)) return undefined;
      // `json`: a repeated key takes the last value, as `yaml` does with uniqueKeys off.
      for (const value of constructFromEvents(events, { source: chunk, schema: PLAIN_SCHEMA, json: true })) values.push(value);
    }
  } catch {
    return undefined;
  }
  return values;
}

function isPlain(events: Event[]): boolean {
  for (const e of events) {
    if (e.type === EVENT_ID.ALIAS) return false;
    if ((e.type === EVENT_ID.SCALAR || e.type === EVENT_ID.MAPPING || e.type === EVENT_ID.SEQUENCE) && (e.anchorStart !== -1 || e.tagStart !== -1)) return false;
  }
  return true;
}

/** How much text one js-yaml call gets, at least: a bounded event list is far less work for the GC. */
const CHUNK_CHARS = 32 * 1024;

/**
 * The text cut into runs of whole documents of about CHUNK_CHARS each, at `---` markers. A line
 * that starts with `---` and a space, a tab or its end cannot be content in YAML 1.2 (`c-forbidden`),
 * so it always starts a document, and each run parses to the same documents as the whole.
 */
function* documentChunks(text: string): Generator<string> {
  let from = 0;
  for (let at = text.indexOf('\n---', CHUNK_CHARS); at !== -1; at = text.indexOf('\n---', at + 1)) {
    if (at + 1 - from < CHUNK_CHARS) continue;
    const next = text.charCodeAt(at + 4);
    // Space, tab, CR, LF or the end of the text.
    if (next === 32 || next === 9 || next === 13 || next === 10 || Number.isNaN(next)) {
      yield text.slice(from, at + 1);
      from = at + 1;
    }
  }
  yield text.slice(from);
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
