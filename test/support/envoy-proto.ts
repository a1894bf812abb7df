/**
 * A strict checker of Envoy v3 JSON against Envoy's own .proto files (the copies shipped in
 * @grpc/grpc-js-xds/deps), for tests. Envoy rejects at load what this rejects:
 *
 * 1. proto3-JSON parse by @bufbuild/protobuf `fromJson` with a registry and no unknown fields:
 *    unknown fields (also inside `Any`, resolved by `@type`), wrong types, bad enum names, unknown
 *    `@type`, two members of a oneof. A JSON-side walk beside it names the path of each defect
 *    (bufbuild's own messages do not) and also refuses `null` (legal proto3 JSON, but never
 *    something meshgate means to emit).
 * 2. On the parsed message: set fields that are deprecated (`deprecated = true`,
 *    `envoy.annotations.deprecated_at_minor_version`, `disallowed_by_default`) and deprecated enum
 *    values.
 * 3. The protoc-gen-validate rules Envoy enforces at load (`validate.rules`, oneof
 *    `validate.required`, message `validate.disabled`), the simple kinds: see `checkRules`.
 *
 * The registry comes from `buildFileDescriptorSet` in scripts/envoy-descriptors.ts (protobufjs
 * parses the .proto files and the converter writes what protoc would), the same converter that
 * writes the descriptor set meshgate's ADS server loads at runtime.
 *
 * Everything is synchronous; the registry is built on first use (about a second) and cached for
 * the process. `loadEnvoyRegistry()` builds it eagerly, e.g. in a `before` hook.
 */
import {
  createFileRegistry,
  fromBinary,
  fromJson,
  getExtension,
  hasExtension,
  toBinary,
  toJson,
  ScalarType,
  type DescEnum,
  type DescExtension,
  type DescField,
  type DescMessage,
  type FileRegistry,
  type JsonValue,
  type Message,
} from '@bufbuild/protobuf';
import { reflect, type ReflectMessage } from '@bufbuild/protobuf/reflect';
import { FileDescriptorSetSchema, anyUnpack, hasCustomJsonRepresentation, isWrapperDesc, type Any } from '@bufbuild/protobuf/wkt';
import { buildFileDescriptorSet, ENVOY_PROTOS } from '../../scripts/envoy-descriptors.js';

export { buildFileDescriptorSet, ENVOY_PROTOS };

const TYPE_PREFIX = 'type.googleapis.com/';
export const LISTENER_TYPE = 'envoy.config.listener.v3.Listener';
export const ROUTE_CONFIGURATION_TYPE = 'envoy.config.route.v3.RouteConfiguration';
export const CLUSTER_TYPE = 'envoy.config.cluster.v3.Cluster';
export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

// ---------------------------------------------------------------------------------------------
// The registry and the option extensions the checks read

interface Envoy {
  registry: FileRegistry;
  rules: DescExtension;
  oneofRequired: DescExtension;
  messageDisabled: DescExtension;
  deprecatedAt: DescExtension;
  deprecatedAtEnum: DescExtension;
  disallowed: DescExtension;
  disallowedEnum: DescExtension;
}

let cached: Envoy | undefined;
/** Milliseconds the registry took to build (parse + convert + encode + decode), once built. */
export let registryBuildMs: number | undefined;

function envoy(): Envoy {
  if (cached) return cached;
  const start = performance.now();
  // Round-trip through the binary form, so the registry is built from exactly what protoc emits.
  const bytes = toBinary(FileDescriptorSetSchema, buildFileDescriptorSet());
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
  const ext = (name: string) => {
    const e = registry.getExtension(name);
    if (!e) throw new Error(`extension ${name} is not in the registry`);
    return e;
  };
  cached = {
    registry,
    rules: ext('validate.rules'),
    oneofRequired: ext('validate.required'),
    messageDisabled: ext('validate.disabled'),
    deprecatedAt: ext('envoy.annotations.deprecated_at_minor_version'),
    deprecatedAtEnum: ext('envoy.annotations.deprecated_at_minor_version_enum'),
    disallowed: ext('envoy.annotations.disallowed_by_default'),
    disallowedEnum: ext('envoy.annotations.disallowed_by_default_enum'),
  };
  registryBuildMs = performance.now() - start;
  return cached;
}

/** Builds the registry now (otherwise the first check does). */
export function loadEnvoyRegistry(): FileRegistry {
  return envoy().registry;
}

// ---------------------------------------------------------------------------------------------
// Checks

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const JSON_OPTIONS = { ignoreUnknownFields: false } as const;

function at(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const INTEGER_KINDS = new Set([
  ScalarType.INT32, ScalarType.UINT32, ScalarType.SINT32, ScalarType.FIXED32, ScalarType.SFIXED32,
  ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64,
]);

const NUMBER_KINDS = new Set([
  ScalarType.INT32, ScalarType.UINT32, ScalarType.SINT32, ScalarType.FIXED32, ScalarType.SFIXED32, ScalarType.FLOAT, ScalarType.DOUBLE,
]);

/**
 * proto3 JSON also reads 32-bit numbers written as strings ("80"); canonical JSON, which meshgate
 * emits, writes them as numbers (64-bit ones as strings, either is taken). A string there is a bug.
 */
function nonCanonical(field: DescField, v: unknown): string | undefined {
  if (field.scalar === undefined || !NUMBER_KINDS.has(field.scalar) || typeof v !== 'string') return undefined;
  if (['NaN', 'Infinity', '-Infinity'].includes(v) && (field.scalar === ScalarType.FLOAT || field.scalar === ScalarType.DOUBLE)) return undefined;
  const kind = ScalarType[field.scalar].toLowerCase();
  return `expected ${INTEGER_KINDS.has(field.scalar) ? 'an integer' : 'a number'} (${kind}), got ${JSON.stringify(v)}`;
}

/** A readable reason for a value bufbuild refused in `field` (its own message otherwise). */
function refusal(field: DescField, value: unknown, e: unknown): string {
  const got = JSON.stringify(value);
  if (field.enum && typeof value === 'string') return `unknown ${field.enum.typeName} value ${got}: use one of ${field.enum.values.map((v) => v.name).join(', ')}`;
  if (field.scalar !== undefined && INTEGER_KINDS.has(field.scalar)) return `expected an integer (${ScalarType[field.scalar].toLowerCase()}), got ${got}`;
  // The path already names the field: keep bufbuild's reason only.
  return errorText(e).replace(/^cannot decode (field|message) \S+ from JSON: /, '');
}

/** Refusals of `json` as a `desc`, each at its JSON path; fromJson is the judge of every leaf. */
function walkJson(env: Envoy, desc: DescMessage, json: unknown, path: string, errors: string[]): void {
  if (desc.typeName === 'google.protobuf.Any') return walkAny(env, json, path, errors);
  if (hasCustomJsonRepresentation(desc)) {
    const loose = isWrapperDesc(desc) ? nonCanonical(desc.fields[0]!, json) : undefined;
    if (loose) {
      errors.push(`${path}: ${loose}`);
      return;
    }
    try {
      fromJson(desc, json as JsonValue, { ...JSON_OPTIONS, registry: env.registry });
    } catch (e) {
      const reason =
        desc.typeName === 'google.protobuf.Duration'
          ? `expected a duration like "5s", got ${JSON.stringify(json)}`
          : isWrapperDesc(desc)
            ? refusal(desc.fields[0]!, json, e) // UInt32Value and friends: JSON is the bare value
            : errorText(e).replace(/^cannot decode (field|message) \S+ from JSON: /, '');
      errors.push(`${path}: ${reason}`);
    }
    return;
  }
  if (!isObject(json)) {
    errors.push(`${path || '(top)'}: expected an object (${desc.typeName}), got ${JSON.stringify(json)}`);
    return;
  }
  const byName = new Map<string, DescField>();
  for (const f of desc.fields) {
    byName.set(f.name, f);
    byName.set(f.jsonName, f);
  }
  const seen = new Map<DescField, string>();
  const oneofSeen = new Map<string, string>();
  for (const [key, v] of Object.entries(json)) {
    const here = at(path, key);
    const field = byName.get(key);
    if (!field) {
      errors.push(`${here}: unknown field "${key}" in ${desc.typeName}`);
      continue;
    }
    if (seen.has(field)) errors.push(`${here}: field ${field.name} already given as "${seen.get(field)}"`);
    seen.set(field, key);
    if (field.oneof) {
      const other = oneofSeen.get(field.oneof.name);
      if (other) errors.push(`${here}: oneof ${field.oneof.name} already set by ${other}`);
      oneofSeen.set(field.oneof.name, key);
    }
    if (v === null) {
      // proto3 JSON reads null as "unset" (and as NullValue in a Value); meshgate never means that.
      if (!(field.fieldKind === 'message' && field.message.typeName === 'google.protobuf.Value')) errors.push(`${here}: null is not allowed (omit the field)`);
      continue;
    }
    // `value` is the field's JSON to parse alone; `item` the scalar in it, when there is one.
    const leaf = (value: unknown, item: unknown, where: string) => {
      const loose = item === undefined ? undefined : nonCanonical(field, item);
      if (loose) {
        errors.push(`${where}: ${loose}`);
        return;
      }
      try {
        fromJson(desc, { [key]: value } as JsonValue, { ...JSON_OPTIONS, registry: env.registry });
      } catch (e) {
        errors.push(`${where}: ${refusal(field, item ?? value, e)}`);
      }
    };
    if (field.fieldKind === 'message') walkJson(env, field.message, v, here, errors);
    else if (field.fieldKind === 'list') {
      if (!Array.isArray(v)) leaf(v, undefined, here);
      else if (field.listKind === 'message') v.forEach((item, i) => walkJson(env, field.message, item, `${here}[${i}]`, errors));
      else v.forEach((item, i) => leaf([item], item, `${here}[${i}]`));
    } else if (field.fieldKind === 'map') {
      if (!isObject(v)) leaf(v, undefined, here);
      else if (field.mapKind === 'message') {
        for (const [k, mv] of Object.entries(v)) {
          leaf({ [k]: {} }, undefined, `${here}[${JSON.stringify(k)}]`); // the key's own type
          walkJson(env, field.message, mv, `${here}[${JSON.stringify(k)}]`, errors);
        }
      } else for (const [k, mv] of Object.entries(v)) leaf({ [k]: mv }, mv, `${here}[${JSON.stringify(k)}]`);
    } else leaf(v, v, here);
  }
}

function walkAny(env: Envoy, json: unknown, path: string, errors: string[]): void {
  if (!isObject(json)) {
    errors.push(`${path}: expected an object with "@type" (Any), got ${JSON.stringify(json)}`);
    return;
  }
  const url = json['@type'];
  if (typeof url !== 'string' || !url.includes('/')) {
    errors.push(`${path}["@type"]: required, a type URL like ${TYPE_PREFIX}<message>`);
    return;
  }
  const typeName = url.slice(url.lastIndexOf('/') + 1);
  const desc = env.registry.getMessage(typeName);
  if (!desc) {
    errors.push(`${path}["@type"]: unknown message ${typeName}`);
    return;
  }
  if (hasCustomJsonRepresentation(desc)) {
    // Well-known types carry their JSON form under "value".
    try {
      fromJson(env.registry.getMessage('google.protobuf.Any')!, json as JsonValue, { ...JSON_OPTIONS, registry: env.registry });
    } catch (e) {
      errors.push(`${path}: ${errorText(e)}`);
    }
    return;
  }
  const { ['@type']: _type, ...rest } = json;
  walkJson(env, desc, rest, path, errors);
}

// ---- on the parsed message: deprecated fields and enum values, protoc-gen-validate rules

/** The value of a custom option (an extension of the element's options), if written. */
function option(element: { proto: { options?: Message } }, ext: DescExtension): unknown {
  const options = element.proto.options;
  if (!options || !hasExtension(options as never, ext)) return undefined;
  return getExtension(options as never, ext);
}

function isDeprecatedField(env: Envoy, f: DescField): string | undefined {
  if (f.deprecated) return 'deprecated';
  if (option(f, env.deprecatedAt) !== undefined) return `deprecated at ${String(option(f, env.deprecatedAt))}`;
  if (option(f, env.disallowed) === true) return 'disallowed by default';
  return undefined;
}

/**
 * A set enum value: deprecated values are refused, and so are numbers no value has (proto3 JSON
 * reads them into an open enum; PGV `defined_only` refuses them, reported by `checkRules`, and
 * meshgate never means them elsewhere either).
 */
function checkEnumValue(env: Envoy, field: DescField, n: number, where: string, validated: boolean, errors: string[]): void {
  const e = field.enum!;
  const v = e.values.find((x) => x.number === n);
  if (!v) {
    const rules = rulesOf(env, field);
    const definedOnly = field.fieldKind === 'list' ? ((rules?.repeated as Rules | undefined)?.items as Rules | undefined)?.enum : rules?.enum;
    if (!(validated && (definedOnly as Rules | undefined)?.defined_only === true)) errors.push(`${where}: ${n} is not a defined ${e.typeName} value`);
    return;
  }
  if (v.deprecated || option(v, env.deprecatedAtEnum) !== undefined || option(v, env.disallowedEnum) === true) errors.push(`${where}: ${e.typeName}.${v.name} is deprecated`);
}

/** A set message value: walk it, unpacking an Any through the registry. */
function walkValue(env: Envoy, r: ReflectMessage, path: string, pgv: boolean, errors: string[]): void {
  if (r.desc.typeName === 'google.protobuf.Any') {
    // PGV itself stops at an Any; Envoy validates the unpacked config when it builds the extension.
    const inner = anyUnpack(r.message as Any, env.registry);
    if (inner) walkMessage(env, reflect(env.registry.getMessage(inner.$typeName)!, inner), path, true, errors);
    return;
  }
  walkMessage(env, r, path, pgv, errors);
}

function walkMessage(env: Envoy, r: ReflectMessage, path: string, pgv: boolean, errors: string[]): void {
  const desc = r.desc;
  const validated = pgv && !(option(desc, env.messageDisabled) === true);
  if (validated) {
    for (const o of desc.oneofs) {
      if (option(o, env.oneofRequired) === true && r.oneofCase(o) === undefined) {
        errors.push(`${path || '(top)'}: one of ${o.fields.map((f) => f.name).join(', ')} is required (oneof ${o.name}: validate.required)`);
      }
    }
  }
  for (const field of desc.fields) {
    const here = at(path, field.name);
    const set = r.isSet(field);
    if (set) {
      const why = isDeprecatedField(env, field);
      if (why) errors.push(`${here}: field ${desc.typeName}.${field.name} is ${why}`);
    }
    // PGV checks only the member of a oneof that is set; other fields even when unset ("" < min_len).
    if (validated && (set || !field.oneof)) checkRules(env, r, field, here, errors);
    if (!set) continue;
    const inner = validated && (rulesOf(env, field)?.message as Rules | undefined)?.skip !== true;
    switch (field.fieldKind) {
      case 'message':
        walkValue(env, r.get(field), here, inner, errors);
        break;
      case 'enum':
        checkEnumValue(env, field, r.get(field), here, validated, errors);
        break;
      case 'list': {
        let i = 0;
        for (const item of r.get(field)) {
          const where = `${here}[${i++}]`;
          if (field.listKind === 'message') walkValue(env, item as ReflectMessage, where, inner, errors);
          else if (field.listKind === 'enum') checkEnumValue(env, field, item as number, where, validated, errors);
        }
        break;
      }
      case 'map':
        if (field.mapKind === 'message') for (const [k, v] of r.get(field)) walkValue(env, v as ReflectMessage, `${here}[${JSON.stringify(String(k))}]`, inner, errors);
        break;
    }
  }
}

/** A rule set in proto3-JSON form with proto field names: only the rules actually written. */
type Rules = { [rule: string]: unknown };

const rulesCache = new Map<DescField, Rules | undefined>();

function rulesOf(env: Envoy, field: DescField): Rules | undefined {
  if (rulesCache.has(field)) return rulesCache.get(field);
  let rules: Rules | undefined;
  if (option(field, env.rules) !== undefined) {
    // JSON, not the message: validate.proto is proto2, whose unset fields read as defaults.
    const value = option(field, env.rules) as unknown as Message;
    rules = toJson(env.rules.message!, value as never, { useProtoFieldName: true, registry: env.registry }) as Rules;
  }
  rulesCache.set(field, rules);
  return rules;
}

type Fail = (rule: string, detail: string) => void;

/**
 * The protoc-gen-validate rules Envoy enforces at load, the ones that are simple to read:
 * message `required`; string `min_len`/`max_len`/`min_bytes`/`max_bytes`/`prefix`; bytes
 * `min_len`/`max_len`; every numeric kind's `const`/`gt`/`gte`/`lt`/`lte`/`in`/`not_in`; enum
 * `defined_only`/`const`/`in`/`not_in`; repeated `min_items`/`max_items` and `items` (scalars,
 * enums, durations); map `min_pairs`/`max_pairs`; duration `required`/`const`/`gt`/`gte`/`lt`/`lte`;
 * any `required`/`in`/`not_in`; wrapper types (UInt32Value, …) checked on their value when set.
 * `ignore_empty` is honoured. Not enforced: string `pattern`/`well_known_regex`/`contains`/
 * address formats, `unique`, map `keys`/`values`, timestamps.
 */
function checkRules(env: Envoy, r: ReflectMessage, field: DescField, here: string, errors: string[]): void {
  const rules = rulesOf(env, field);
  if (!rules) return;
  const fail: Fail = (rule, detail) => errors.push(`${here}: ${detail} (validate.rules ${rule})`);
  const set = r.isSet(field);
  const kind = Object.keys(rules).find((k) => k !== 'message');
  const sub = (kind ? rules[kind] : {}) as Rules;
  if (field.fieldKind === 'message') {
    const required = (rules.message as Rules | undefined)?.required === true || ((kind === 'duration' || kind === 'any' || kind === 'timestamp') && sub.required === true);
    if (required && !set) fail(kind && sub.required === true ? `${kind}.required` : 'message.required', `${field.parent.typeName}.${field.name} is required`);
    if (!set || !kind) return;
    const inner = r.get(field);
    if (kind === 'duration') checkDuration(inner, sub, fail);
    else if (kind === 'any') checkAnyRules(inner, sub, fail);
    else {
      // Wrapper types (UInt32Value, StringValue, …) carry the scalar rules for their `value`.
      const valueField = inner.desc.fields.find((f) => f.name === 'value');
      if (valueField && kind !== 'timestamp') checkScalar(kind, sub, inner.get(valueField), fail);
    }
    return;
  }
  if (!kind) return;
  if (field.fieldKind === 'list') {
    if (kind !== 'repeated') return;
    const list = r.get(field);
    if (sub.ignore_empty === true && list.size === 0) return;
    if (sub.min_items !== undefined && list.size < Number(sub.min_items)) fail('repeated.min_items', `needs at least ${String(sub.min_items)} item(s), has ${list.size}`);
    if (sub.max_items !== undefined && list.size > Number(sub.max_items)) fail('repeated.max_items', `allows at most ${String(sub.max_items)} item(s), has ${list.size}`);
    const items = sub.items as Rules | undefined;
    const itemKind = items && Object.keys(items).find((k) => k !== 'message');
    if (!items || !itemKind) return;
    const itemRules = items[itemKind] as Rules;
    let i = 0;
    for (const item of list) {
      const where = `${here}[${i++}]`;
      const itemFail: Fail = (rule, detail) => errors.push(`${where}: ${detail} (validate.rules repeated.items.${rule})`);
      if (itemKind === 'duration' && field.listKind === 'message') checkDuration(item as ReflectMessage, itemRules, itemFail);
      else if (itemKind === 'enum' && field.listKind === 'enum') checkEnum(field.enum, itemRules, item as number, itemFail);
      else if (field.listKind === 'scalar') checkScalar(itemKind, itemRules, item, itemFail);
    }
    return;
  }
  if (field.fieldKind === 'map') {
    if (kind !== 'map') return;
    const size = r.get(field).size;
    if (sub.ignore_empty === true && size === 0) return;
    if (sub.min_pairs !== undefined && size < Number(sub.min_pairs)) fail('map.min_pairs', `needs at least ${String(sub.min_pairs)} entr(ies), has ${size}`);
    if (sub.max_pairs !== undefined && size > Number(sub.max_pairs)) fail('map.max_pairs', `allows at most ${String(sub.max_pairs)} entr(ies), has ${size}`);
    return;
  }
  if (field.fieldKind === 'enum') {
    if (kind === 'enum') checkEnum(field.enum, sub, r.get(field), fail);
    return;
  }
  checkScalar(kind, sub, r.get(field), fail);
}

function checkEnum(e: DescEnum, rules: Rules, n: number, fail: Fail): void {
  const value = e.values.find((v) => v.number === n);
  const show = value ? value.name : String(n);
  // Rules name enum values by name in JSON form.
  const number = (x: unknown) => (typeof x === 'string' ? e.values.find((v) => v.name === x)?.number : Number(x));
  if (rules.defined_only === true && !value) fail('enum.defined_only', `${n} is not a defined ${e.typeName} value`);
  if (rules.const !== undefined && n !== number(rules.const)) fail('enum.const', `must be ${String(rules.const)}, got ${show}`);
  if (Array.isArray(rules.in) && rules.in.length > 0 && !rules.in.some((x) => number(x) === n)) fail('enum.in', `must be one of ${rules.in.join(', ')}, got ${show}`);
  if (Array.isArray(rules.not_in) && rules.not_in.some((x) => number(x) === n)) fail('enum.not_in', `must not be ${show}`);
}

function checkScalar(kind: string, rules: Rules, value: unknown, fail: Fail): void {
  if (kind === 'string') {
    const s = String(value);
    if (rules.ignore_empty === true && s === '') return;
    const chars = [...s].length;
    const bytes = Buffer.byteLength(s);
    const show = JSON.stringify(s);
    if (rules.min_len !== undefined && chars < Number(rules.min_len)) fail('string.min_len', `needs at least ${String(rules.min_len)} character(s), got ${show}`);
    if (rules.max_len !== undefined && chars > Number(rules.max_len)) fail('string.max_len', `allows at most ${String(rules.max_len)} character(s), got ${chars}`);
    if (rules.len !== undefined && chars !== Number(rules.len)) fail('string.len', `must be ${String(rules.len)} character(s), got ${show}`);
    if (rules.min_bytes !== undefined && bytes < Number(rules.min_bytes)) fail('string.min_bytes', `needs at least ${String(rules.min_bytes)} byte(s), got ${show}`);
    if (rules.max_bytes !== undefined && bytes > Number(rules.max_bytes)) fail('string.max_bytes', `allows at most ${String(rules.max_bytes)} byte(s), got ${bytes}`);
    if (typeof rules.prefix === 'string' && !s.startsWith(rules.prefix)) fail('string.prefix', `must start with ${JSON.stringify(rules.prefix)}, got ${show}`);
    if (typeof rules.suffix === 'string' && !s.endsWith(rules.suffix)) fail('string.suffix', `must end with ${JSON.stringify(rules.suffix)}, got ${show}`);
    if (Array.isArray(rules.in) && rules.in.length > 0 && !rules.in.includes(s)) fail('string.in', `must be one of ${rules.in.join(', ')}, got ${show}`);
    if (Array.isArray(rules.not_in) && rules.not_in.includes(s)) fail('string.not_in', `must not be ${show}`);
    return;
  }
  if (kind === 'bytes') {
    const len = (value as Uint8Array).length;
    if (rules.ignore_empty === true && len === 0) return;
    if (rules.min_len !== undefined && len < Number(rules.min_len)) fail('bytes.min_len', `needs at least ${String(rules.min_len)} byte(s), has ${len}`);
    if (rules.max_len !== undefined && len > Number(rules.max_len)) fail('bytes.max_len', `allows at most ${String(rules.max_len)} byte(s), has ${len}`);
    return;
  }
  if (kind === 'bool') {
    if (rules.const !== undefined && value !== rules.const) fail('bool.const', `must be ${String(rules.const)}`);
    return;
  }
  // Numeric kinds: 64-bit values are bigints (their rules JSON strings), the rest numbers.
  const sign = (bound: unknown): number => {
    if (typeof value === 'bigint') {
      const b = BigInt(bound as string | number);
      return value === b ? 0 : value > b ? 1 : -1;
    }
    const v = Number(value);
    const b = Number(bound);
    return v === b ? 0 : v > b ? 1 : -1;
  };
  if (rules.ignore_empty === true && sign(0) === 0) return;
  const show = String(value);
  const s = (x: unknown) => String(x);
  if (rules.const !== undefined && sign(rules.const) !== 0) fail(`${kind}.const`, `must be ${s(rules.const)}, got ${show}`);
  if (rules.gt !== undefined && !(sign(rules.gt) > 0)) fail(`${kind}.gt`, `must be > ${s(rules.gt)}, got ${show}`);
  if (rules.gte !== undefined && !(sign(rules.gte) >= 0)) fail(`${kind}.gte`, `must be >= ${s(rules.gte)}, got ${show}`);
  if (rules.lt !== undefined && !(sign(rules.lt) < 0)) fail(`${kind}.lt`, `must be < ${s(rules.lt)}, got ${show}`);
  if (rules.lte !== undefined && !(sign(rules.lte) <= 0)) fail(`${kind}.lte`, `must be <= ${s(rules.lte)}, got ${show}`);
  if (Array.isArray(rules.in) && rules.in.length > 0 && !rules.in.some((x) => sign(x) === 0)) fail(`${kind}.in`, `must be one of ${rules.in.join(', ')}, got ${show}`);
  if (Array.isArray(rules.not_in) && rules.not_in.some((x) => sign(x) === 0)) fail(`${kind}.not_in`, `must not be ${show}`);
}

/** A proto3-JSON duration ("1.5s") in nanoseconds. */
function durationNanos(json: unknown): bigint {
  const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(String(json));
  if (!m) throw new Error(`not a duration: ${String(json)}`);
  const n = BigInt(m[2]!) * 1_000_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
  return m[1] ? -n : n;
}

function checkDuration(r: ReflectMessage, rules: Rules, fail: Fail): void {
  const d = r.message as unknown as { seconds: bigint; nanos: number };
  const v = d.seconds * 1_000_000_000n + BigInt(d.nanos);
  const got = `${Number(v) / 1e9}s`;
  const check = (rule: string, ok: (bound: bigint) => boolean, op: string) => {
    if (rules[rule] !== undefined && !ok(durationNanos(rules[rule]))) fail(`duration.${rule}`, `must be ${op} ${String(rules[rule])}, got ${got}`);
  };
  check('const', (b) => v === b, '=');
  check('gt', (b) => v > b, '>');
  check('gte', (b) => v >= b, '>=');
  check('lt', (b) => v < b, '<');
  check('lte', (b) => v <= b, '<=');
}

function checkAnyRules(r: ReflectMessage, rules: Rules, fail: Fail): void {
  const url = (r.message as Any).typeUrl;
  if (Array.isArray(rules.in) && rules.in.length > 0 && !rules.in.includes(url)) fail('any.in', `@type must be one of ${rules.in.join(', ')}, got ${url}`);
  if (Array.isArray(rules.not_in) && rules.not_in.includes(url)) fail('any.not_in', `@type must not be ${url}`);
}

// ---------------------------------------------------------------------------------------------
// API

function label(typeName: string, json: unknown): string {
  const short = typeName.slice(typeName.lastIndexOf('.') + 1);
  const name = isObject(json) && typeof json.name === 'string' ? ` "${json.name}"` : '';
  return `${short}${name}`;
}

/**
 * Every problem of `json` as an instance of the Envoy message `typeName` (without `@type`, e.g.
 * a bootstrap), each `<Type "name">: <json path>: <what>`; empty when Envoy would accept it.
 */
export function checkEnvoyMessage(typeName: string, json: unknown): string[] {
  const env = envoy();
  const desc = env.registry.getMessage(typeName);
  if (!desc) return [`unknown message ${typeName}`];
  const prefix = label(typeName, json);
  const errors: string[] = [];
  walkJson(env, desc, json, '', errors);
  if (errors.length > 0) return errors.map((e) => `${prefix}: ${e}`);
  let message: Message;
  try {
    message = fromJson(desc, json as JsonValue, { ...JSON_OPTIONS, registry: env.registry });
  } catch (e) {
    // The walk above names the path of every refusal it knows; this is the parser's last word.
    return [`${prefix}: ${errorText(e)}`];
  }
  walkMessage(env, reflect(desc, message), '', true, errors);
  return errors.map((e) => `${prefix}: ${e}`);
}

/** Every problem of an xDS resource with its `@type` (`type.googleapis.com/<message>`). */
export function checkEnvoyResource(json: unknown): string[] {
  if (!isObject(json)) return [`expected an object with "@type", got ${JSON.stringify(json)}`];
  const url = json['@type'];
  if (typeof url !== 'string' || !url.startsWith(TYPE_PREFIX)) return [`"@type": required, ${TYPE_PREFIX}<message>, got ${JSON.stringify(url)}`];
  const typeName = url.slice(TYPE_PREFIX.length);
  if (!envoy().registry.getMessage(typeName)) return [`"@type": unknown message ${typeName}`];
  const { ['@type']: _type, ...rest } = json;
  return checkEnvoyMessage(typeName, rest);
}

export interface ProxyConfig {
  version: string;
  listeners: unknown[];
  routeConfigurations: unknown[];
  clusters: unknown[];
}

/** `meshgate proxy config` output: each list holds resources of its own type, each valid. */
export function checkProxyConfig(cfg: ProxyConfig): string[] {
  const errors: string[] = [];
  if (!isObject(cfg)) return [`expected {version, listeners, routeConfigurations, clusters}`];
  const known = new Set(['version', 'listeners', 'routeConfigurations', 'clusters']);
  for (const k of Object.keys(cfg)) if (!known.has(k)) errors.push(`unknown key "${k}" in the proxy config`);
  if (typeof cfg.version !== 'string' || cfg.version === '') errors.push('version: expected a non-empty string');
  const lists: [keyof ProxyConfig, string][] = [
    ['listeners', LISTENER_TYPE],
    ['routeConfigurations', ROUTE_CONFIGURATION_TYPE],
    ['clusters', CLUSTER_TYPE],
  ];
  for (const [key, typeName] of lists) {
    const items = cfg[key];
    if (!Array.isArray(items)) {
      errors.push(`${key}: expected an array`);
      continue;
    }
    items.forEach((item, i) => {
      const where = `${key}[${i}]`;
      const url = isObject(item) ? item['@type'] : undefined;
      if (url !== TYPE_PREFIX + typeName) {
        errors.push(`${where}: "@type" must be ${TYPE_PREFIX}${typeName} in ${key}, got ${JSON.stringify(url)}`);
        return;
      }
      for (const e of checkEnvoyResource(item)) errors.push(`${where}: ${e}`);
    });
  }
  return errors;
}
