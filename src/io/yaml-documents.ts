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
  // some text that `yaml` refuses or reads otherwise; carriage returns (a `---\r` line followed by
  // more text splits documents for js-yaml where `yaml` reports an error).
  if (text.startsWith('%') || text.includes('\n%') || text.startsWith('...') || text.includes('\n...') || text.includes('\t') || text.includes('\r')) return undefined;
  if (/(?:^|\n)(?: *(?:- +)*:(?:[ \r\n]|$)| +---)/.test(text)) return undefined;
  const block = parseBlockYaml(text);
  if (block) return block;
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

/** Thrown inside parseBlockYaml for anything outside its subset; never escapes it. */
const OUTSIDE_SUBSET = new Error('outside the block subset');

/**
 * Characters the block subset leaves to js-yaml: CR, controls, NEL, line and paragraph separators,
 * surrogates (pairs included), byte-order marks and noncharacters.
 */
const NOT_BLOCK_SUBSET_CHARS = /[\x00-\x09\x0B-\x1F\x7F-\x9F\u2028\u2029\uD800-\uDFFF\uFEFF\uFFFE\uFFFF]/;
/** A plain scalar (key or value) may not start with these (YAML's c-indicator), nor with `-`, `?` or `:` and a space. */
const INDICATOR_FIRST = new Set([...'[]{},#&*!|>\'"%@`']);
/** The JSON escapes, which mean the same in a YAML double-quoted scalar (lone surrogates left out). */
const JSON_ESCAPES = /^(?:[^\\]|\\(?:["\\/bfnrt]|u(?![dD][89a-fA-F])[0-9a-fA-F]{4}))*$/;

/**
 * First characters of the plain scalars the schema may resolve to something else than a string
 * (null, booleans, numbers), or undefined if a tag may match any first character: a plain scalar
 * starting with anything else is its own text, as js-yaml's resolveImplicitScalarTag decides.
 */
const IMPLICIT_FIRST_CHARS = ((): Set<string> | undefined => {
  const implicit = PLAIN_SCHEMA.tags.filter((t) => t.nodeKind === 'scalar' && t.implicit);
  if (implicit.some((t) => t.nodeKind !== 'scalar' || !t.implicitFirstChars)) return undefined;
  return new Set(implicit.flatMap((t) => (t.nodeKind === 'scalar' ? [...(t.implicitFirstChars ?? [])] : [])));
})();

function resolvePlain(v: string): unknown {
  return IMPLICIT_FIRST_CHARS && !IMPLICIT_FIRST_CHARS.has(v[0]!) ? v : PLAIN_SCHEMA.resolveImplicitScalarTag(v).value;
}

/**
 * The commonest state files, several times faster than js-yaml's events: block mappings and
 * sequences, one line per scalar (plain, single- or double-quoted with JSON's escapes), `{}` and
 * `[]`, comments, `---` between documents. Keys and values are resolved by the same schema as
 * the js-yaml path, and mappings built by the same addPair. Anything else in the text (quoted or
 * complex keys, multi-line or block scalars, flow collections, non-printable characters, and every
 * error) returns undefined: the text then goes through js-yaml and, failing that, `yaml`.
 */
function parseBlockYaml(text: string): unknown[] | undefined {
  if (NOT_BLOCK_SUBSET_CHARS.test(text)) return undefined;
  const n = text.length;
  /** Start and end (at its `\n`, or the end of the text) of the current line; its indent. */
  let at = 0;
  let end = 0;
  let indent = 0;
  const hashAfter = finder(text, ' #');
  const colonAfter = finder(text, ': ');

  /** Moves to the next line with content in this document: its indent, or -1 at a `---` line or the end. */
  const next = (): number => {
    for (; at < n; at = end + 1) {
      end = text.indexOf('\n', at);
      if (end === -1) end = n;
      let i = at;
      while (text.charCodeAt(i) === 32) i++;
      if (i === end || text.charCodeAt(i) === 35 /* # */) continue;
      if (i === at && text.startsWith('---', at)) {
        if (!/^---(?: +(?:#.*)?)?$/.test(text.slice(at, end))) throw OUTSIDE_SUBSET;
        return -1;
      }
      indent = i - at;
      return indent;
    }
    return -1;
  };

  /** `-` at column `col` of the current line, followed by a space or the end of the line. */
  const isDash = (col: number): boolean => {
    const i = at + col;
    return text.charCodeAt(i) === 45 /* - */ && (i + 1 === end || text.charCodeAt(i + 1) === 32);
  };

  /** A scalar (or `{}`/`[]`) from `from` to the end of the line, comment and trailing spaces included. */
  const scalar = (from: number): unknown => {
    const first = text.charCodeAt(from);
    if (first === 39 /* ' */ || first === 34 /* " */) {
      const quote = first === 39 ? "'" : '"';
      let close = from + 1;
      for (;;) {
        close = text.indexOf(quote, close);
        if (close === -1 || close >= end) throw OUTSIDE_SUBSET;
        if (first === 39 && text.charCodeAt(close + 1) === 39) close += 2;
        else if (first === 34 && backslashesBefore(text, close) % 2 === 1) close += 1;
        else break;
      }
      let i = close + 1;
      while (text.charCodeAt(i) === 32) i++;
      if (i !== end && !(text.charCodeAt(i) === 35 && i > close + 1)) throw OUTSIDE_SUBSET;
      const body = text.slice(from + 1, close);
      if (first === 39) return body.includes("''") ? body.replaceAll("''", "'") : body;
      if (!body.includes('\\')) return body;
      if (!JSON_ESCAPES.test(body)) throw OUTSIDE_SUBSET;
      return JSON.parse(`"${body}"`) as string;
    }
    let stop = hashAfter(from);
    if (stop === -1 || stop > end) stop = end;
    while (text.charCodeAt(stop - 1) === 32) stop--;
    const v = text.slice(from, stop);
    if (v === '{}') return {};
    if (v === '[]') return [];
    checkPlain(v);
    if (v.includes(': ') || v.endsWith(':')) throw OUTSIDE_SUBSET;
    return resolvePlain(v);
  };

  /**
   * At `from`, `key:` then a space or the end of the line: the offset of the colon, or -1 when
   * the text there is not a mapping entry (a scalar, in a sequence).
   */
  const entryColon = (from: number): number => {
    const c = text.charCodeAt(from);
    if (c === 34 || c === 39) return -1;
    let colon = colonAfter(from);
    if (colon === -1 || colon >= end) colon = text.charCodeAt(end - 1) === 58 /* : */ ? end - 1 : -1;
    if (colon === -1) return -1;
    const hash = hashAfter(from);
    if (hash !== -1 && hash < colon) return -1;
    return colon;
  };

  /** A collection whose lines start at column `col` (its first line may follow `- `). */
  const collection = (col: number): unknown => (isDash(col) ? sequence(col) : mapping(col));

  const sequence = (col: number): unknown[] => {
    const out: unknown[] = [];
    for (;;) {
      let i = at + col + 1;
      while (text.charCodeAt(i) === 32) i++;
      if (i === end || text.charCodeAt(i) === 35 /* # */) {
        at = end + 1;
        out.push(next() > col ? collection(indent) : null);
      } else if (isDash(i - at)) {
        throw OUTSIDE_SUBSET;
      } else if (entryColon(i) !== -1) {
        out.push(mapping(i - at));
      } else {
        out.push(scalar(i));
        at = end + 1;
      }
      const d = next();
      if (d === col && isDash(col)) continue;
      if (d > col) throw OUTSIDE_SUBSET;
      return out;
    }
  };

  const mapping = (col: number): Record<string, unknown> => {
    const map: Record<string, unknown> = {};
    for (;;) {
      const from = at + col;
      const colon = entryColon(from);
      if (colon === -1) throw OUTSIDE_SUBSET;
      let keyEnd = colon;
      while (text.charCodeAt(keyEnd - 1) === 32) keyEnd--;
      const keyText = text.slice(from, keyEnd);
      checkPlain(keyText);
      if (keyText.includes(':') || keyText.includes(' #')) throw OUTSIDE_SUBSET;
      let i = colon + 1;
      while (text.charCodeAt(i) === 32) i++;
      let value: unknown;
      if (i >= end || text.charCodeAt(i) === 35 /* # */) {
        at = end + 1;
        const d = next();
        value = d > col ? collection(d) : d === col && isDash(col) ? sequence(col) : null;
      } else {
        value = scalar(i);
        at = end + 1;
      }
      addPlainPair(map, resolvePlain(keyText), value);
      const d = next();
      if (d === col && !isDash(col)) continue;
      if (d >= col) throw OUTSIDE_SUBSET;
      return map;
    }
  };

  const docs: unknown[] = [];
  try {
    // `open`: a `---` has started a document with no content yet (null if none comes).
    let open = false;
    for (;;) {
      const d = next();
      if (d === -1) {
        if (open) docs.push(null);
        if (at >= n) break;
        open = true;
        at = end + 1;
        continue;
      }
      docs.push(collection(d));
      open = false;
      if (next() !== -1) throw OUTSIDE_SUBSET;
    }
  } catch (err) {
    if (err === OUTSIDE_SUBSET) return undefined;
    throw err;
  }
  return docs;
}

/**
 * `text.indexOf(needle, from)`, remembered: the parser asks with offsets that only grow, and most
 * lines have no `' #'` (and many no `': '`), which would otherwise scan to the end of the text each time.
 */
function finder(text: string, needle: string): (from: number) => number {
  let asked = -1;
  let found = -1;
  return (from) => {
    if (asked === -1 || from < asked || (found !== -1 && found < from)) found = text.indexOf(needle, from);
    asked = from;
    return found;
  };
}

const checkPlain = (v: string): void => {
  if (v === '' || INDICATOR_FIRST.has(v[0]!)) throw OUTSIDE_SUBSET;
  const c = v.charCodeAt(0);
  if ((c === 45 || c === 63 || c === 58) /* - ? : */ && (v.length === 1 || v.charCodeAt(1) === 32)) throw OUTSIDE_SUBSET;
};

function backslashesBefore(t: string, i: number): number {
  let k = 0;
  while (t.charCodeAt(i - 1 - k) === 92) k++;
  return k;
}

/** addPair of yamlCompatibleMapTag, for scalar keys. */
function addPlainPair(map: Record<string, unknown>, key: unknown, value: unknown): void {
  const k = key === null ? '' : String(key);
  if (k in map) Object.defineProperty(map, k, { value, writable: true, enumerable: true, configurable: true });
  else map[k] = value;
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
