/**
 * A strict checker of Envoy JSON config against Envoy's real API: the v3 .proto files that ship
 * with @grpc/grpc-js-xds, loaded with protobufjs. Every field must exist in its message (proto
 * name or JSON name), scalars and enums must have the right type, oneofs hold at most one member,
 * deprecated fields are refused, and `Any` values are checked against the message their `@type`
 * names. Envoy itself rejects unknown fields in a bootstrap; this catches them without an Envoy.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const xdsDeps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const protobufjsDir = dirname(require.resolve('protobufjs/package.json'));
const INCLUDE = [
  join(xdsDeps, 'envoy-api'),
  join(xdsDeps, 'xds'),
  join(xdsDeps, 'protoc-gen-validate'),
  join(xdsDeps, 'googleapis'),
  protobufjsDir,
];

/** The protos meshgate's bootstrap uses (the bootstrap plus every extension it names by @type). */
export const ENVOY_PROTOS = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
];

let cached: protobuf.Root | undefined;

export async function loadEnvoyRoot(): Promise<protobuf.Root> {
  if (cached) return cached;
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string) => {
    for (const dir of INCLUDE) {
      const p = join(dir, target);
      if (existsSync(p)) return p;
    }
    return target;
  };
  await root.load(ENVOY_PROTOS, { keepCase: true });
  root.resolveAll();
  cached = root;
  return root;
}

const INT32 = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);
const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const WRAPPERS: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function fullName(t: protobuf.ReflectionObject): string {
  return t.fullName.replace(/^\./, '');
}

function checkScalar(type: string, v: unknown, path: string, errors: string[]): void {
  const bad = (what: string) => errors.push(`${path}: expected ${what} (${type}), got ${JSON.stringify(v)}`);
  if (INT32.has(type)) {
    if (!(typeof v === 'number' && Number.isInteger(v))) bad('an integer');
    else if (type.startsWith('u') || type === 'fixed32') {
      if (v < 0 || v > 0xffffffff) bad('an unsigned 32-bit integer');
    } else if (v < -0x80000000 || v > 0x7fffffff) bad('a 32-bit integer');
  } else if (INT64.has(type)) {
    if (!((typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v)))) bad('an integer');
  } else if (type === 'double' || type === 'float') {
    if (typeof v !== 'number' && !['NaN', 'Infinity', '-Infinity'].includes(v as string)) bad('a number');
  } else if (type === 'bool') {
    if (typeof v !== 'boolean') bad('a boolean');
  } else if (type === 'string') {
    if (typeof v !== 'string') bad('a string');
  } else if (type === 'bytes') {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) bad('base64');
  } else {
    errors.push(`${path}: unknown scalar type ${type}`);
  }
}

function checkWellKnown(name: string, v: unknown, path: string, errors: string[]): boolean {
  if (name in WRAPPERS) {
    checkScalar(WRAPPERS[name]!, v, path, errors);
    return true;
  }
  switch (name) {
    case 'google.protobuf.Duration':
      if (typeof v !== 'string' || !/^-?\d+(\.\d{1,9})?s$/.test(v)) errors.push(`${path}: expected a duration like "5s", got ${JSON.stringify(v)}`);
      return true;
    case 'google.protobuf.Timestamp':
      if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) errors.push(`${path}: expected an RFC 3339 timestamp`);
      return true;
    case 'google.protobuf.Struct':
      if (!isObject(v)) errors.push(`${path}: expected an object (Struct)`);
      return true;
    case 'google.protobuf.Value':
      return true;
    case 'google.protobuf.ListValue':
      if (!Array.isArray(v)) errors.push(`${path}: expected an array (ListValue)`);
      return true;
    case 'google.protobuf.FieldMask':
      if (typeof v !== 'string') errors.push(`${path}: expected a string (FieldMask)`);
      return true;
    case 'google.protobuf.Empty':
      if (!isObject(v) || Object.keys(v).length > 0) errors.push(`${path}: expected {} (Empty)`);
      return true;
    default:
      return false;
  }
}

function checkAny(root: protobuf.Root, v: unknown, path: string, errors: string[]): void {
  if (!isObject(v)) {
    errors.push(`${path}: expected an object with "@type" (Any)`);
    return;
  }
  const url = v['@type'];
  if (typeof url !== 'string' || !url.includes('/')) {
    errors.push(`${path}["@type"]: required, a type URL like type.googleapis.com/<message>`);
    return;
  }
  const typeName = url.slice(url.lastIndexOf('/') + 1);
  let type: protobuf.Type;
  try {
    type = root.lookupType(typeName);
  } catch {
    errors.push(`${path}["@type"]: unknown message ${typeName}`);
    return;
  }
  const { ['@type']: _t, ...rest } = v;
  if (checkWellKnown(fullName(type), 'value' in rest ? rest.value : undefined, `${path}.value`, [])) {
    // Well-known types inside Any carry their JSON form under "value".
    checkWellKnown(fullName(type), rest.value, `${path}.value`, errors);
    return;
  }
  checkMessage(root, type, rest, path, errors);
}

function checkValue(root: protobuf.Root, field: protobuf.Field, v: unknown, path: string, errors: string[]): void {
  if (v === null) {
    errors.push(`${path}: null is not allowed (omit the field)`);
    return;
  }
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) {
    if (typeof v === 'string') {
      if (!(v in rt.values)) errors.push(`${path}: unknown ${fullName(rt)} value ${JSON.stringify(v)}: use one of ${Object.keys(rt.values).join(', ')}`);
    } else if (typeof v !== 'number' || !Object.values(rt.values).includes(v)) {
      errors.push(`${path}: invalid ${fullName(rt)} value ${JSON.stringify(v)}`);
    }
    return;
  }
  if (rt instanceof protobuf.Type) {
    const name = fullName(rt);
    if (name === 'google.protobuf.Any') return checkAny(root, v, path, errors);
    if (checkWellKnown(name, v, path, errors)) return;
    if (!isObject(v)) {
      errors.push(`${path}: expected an object (${name}), got ${JSON.stringify(v)}`);
      return;
    }
    checkMessage(root, rt, v, path, errors);
    return;
  }
  checkScalar(field.type, v, path, errors);
}

function checkMessage(root: protobuf.Root, type: protobuf.Type, obj: Record<string, unknown>, path: string, errors: string[]): void {
  const byName = new Map<string, protobuf.Field>();
  for (const f of type.fieldsArray) {
    byName.set(f.name, f);
    const jsonName = (f.options?.json_name as string | undefined) ?? f.name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
    byName.set(jsonName, f);
  }
  const oneofSeen = new Map<string, string>();
  for (const [key, v] of Object.entries(obj)) {
    const here = path ? `${path}.${key}` : key;
    const field = byName.get(key);
    if (!field) {
      errors.push(`${here}: unknown field "${key}" in ${fullName(type)}`);
      continue;
    }
    if (field.options?.deprecated === true) errors.push(`${here}: field is deprecated in ${fullName(type)}`);
    if (field.partOf) {
      const other = oneofSeen.get(field.partOf.name);
      if (other) errors.push(`${here}: oneof ${field.partOf.name} already set by ${other}`);
      oneofSeen.set(field.partOf.name, key);
    }
    if (field instanceof protobuf.MapField) {
      if (!isObject(v)) {
        errors.push(`${here}: expected a map object`);
        continue;
      }
      for (const [k, mv] of Object.entries(v)) checkValue(root, field, mv, `${here}[${JSON.stringify(k)}]`, errors);
    } else if (field.repeated) {
      if (!Array.isArray(v)) {
        errors.push(`${here}: expected an array`);
        continue;
      }
      v.forEach((item, i) => checkValue(root, field, item, `${here}[${i}]`, errors));
    } else {
      checkValue(root, field, v, here, errors);
    }
  }
}

/** Every problem of `json` as an instance of the Envoy message `typeName` (empty when valid). */
export async function checkEnvoyJson(typeName: string, json: unknown): Promise<string[]> {
  const root = await loadEnvoyRoot();
  const type = root.lookupType(typeName);
  const errors: string[] = [];
  if (!isObject(json)) return [`expected an object (${typeName})`];
  checkMessage(root, type, json, '', errors);
  return errors;
}
