/**
 * Envoy's .proto files (the copies shipped in @grpc/grpc-js-xds/deps) as a binary
 * `FileDescriptorSet`, as `protoc --include_imports` would write it. Build-time only: it needs
 * protobufjs and @grpc/grpc-js-xds (devDependencies). `npm run build` runs
 * `build-envoy-descriptors.ts`, which writes the set meshgate's ADS server loads at runtime with
 * @bufbuild/protobuf alone; the tests' strict checker (test/support/envoy-proto.ts) builds its
 * registry from the same converter.
 *
 * @bufbuild/protobuf cannot read .proto text, so protobufjs parses the files and
 * `buildFileDescriptorSet` converts its reflection tree to a real `FileDescriptorSet` (file names,
 * dependencies, json names, oneofs, proto3 optional, map entries, deprecated options, and custom
 * options such as `validate.rules` encoded as the extensions protoc would write). protobufjs's own
 * `Root#toDescriptor` is not used: it emits one file per package with no dependencies and drops
 * enum value options and custom options. The google/protobuf files come from @bufbuild/protobuf.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import {
  create,
  createFileRegistry,
  fromJson,
  setExtension,
  ScalarType,
  type DescField,
  type DescMessage,
  type JsonValue,
  type Message,
} from '@bufbuild/protobuf';
import {
  DescriptorProtoSchema,
  EnumDescriptorProtoSchema,
  EnumOptionsSchema,
  EnumValueDescriptorProtoSchema,
  EnumValueOptionsSchema,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldDescriptorProtoSchema,
  FieldOptionsSchema,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  MessageOptionsSchema,
  MethodDescriptorProtoSchema,
  OneofDescriptorProtoSchema,
  OneofOptionsSchema,
  ServiceDescriptorProtoSchema,
  file_google_protobuf_any,
  file_google_protobuf_api,
  file_google_protobuf_descriptor,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_source_context,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_type,
  file_google_protobuf_wrappers,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
  type FileDescriptorSet,
} from '@bufbuild/protobuf/wkt';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const xdsDeps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const protobufjsDir = dirname(require.resolve('protobufjs/package.json'));
const INCLUDE = [
  join(xdsDeps, 'envoy-api'),
  join(xdsDeps, 'xds'),
  join(xdsDeps, 'protoc-gen-validate'),
  join(xdsDeps, 'googleapis'),
  protobufjsDir, // google/protobuf/descriptor.proto, which the annotation protos extend
];

/** Every proto meshgate's resources name: the bootstrap, xDS resources, each extension's config. */
export const ENVOY_PROTOS = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/sni_dynamic_forward_proxy/v3/sni_dynamic_forward_proxy.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/dynamic_forward_proxy/v3/dynamic_forward_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/clusters/dynamic_forward_proxy/v3/cluster.proto',
  // For the ADS bootstrap: gRPC call credentials, TLS to the control plane, HTTP/2 to it.
  'envoy/config/grpc_credential/v3/file_based_metadata.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
];

/**
 * What the ADS server needs at runtime (scripts/build-envoy-descriptors.ts): the discovery service
 * and the resources and extension configs the egress compiler emits; not the bootstrap.
 */
export const XDS_RUNTIME_PROTOS = ENVOY_PROTOS.filter(
  (p) => !['envoy/config/bootstrap/v3/bootstrap.proto', 'envoy/config/grpc_credential/v3/file_based_metadata.proto', 'envoy/extensions/transport_sockets/tls/v3/tls.proto'].includes(p),
);


/** The google/protobuf files, as @bufbuild/protobuf ships them (complete, with json names). */
const WKT_FILES = [
  file_google_protobuf_descriptor,
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_source_context,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_type,
  file_google_protobuf_wrappers,
  file_google_protobuf_api,
];

// ---------------------------------------------------------------------------------------------
// protobufjs reflection -> FileDescriptorSet

const SCALAR: Record<string, FieldDescriptorProto_Type> = {
  double: FieldDescriptorProto_Type.DOUBLE,
  float: FieldDescriptorProto_Type.FLOAT,
  int64: FieldDescriptorProto_Type.INT64,
  uint64: FieldDescriptorProto_Type.UINT64,
  int32: FieldDescriptorProto_Type.INT32,
  fixed64: FieldDescriptorProto_Type.FIXED64,
  fixed32: FieldDescriptorProto_Type.FIXED32,
  bool: FieldDescriptorProto_Type.BOOL,
  string: FieldDescriptorProto_Type.STRING,
  bytes: FieldDescriptorProto_Type.BYTES,
  uint32: FieldDescriptorProto_Type.UINT32,
  sfixed32: FieldDescriptorProto_Type.SFIXED32,
  sfixed64: FieldDescriptorProto_Type.SFIXED64,
  sint32: FieldDescriptorProto_Type.SINT32,
  sint64: FieldDescriptorProto_Type.SINT64,
};

/** protoc's json_name: drop underscores, upper-case the letter after each. */
function jsonNameOf(name: string): string {
  let out = '';
  let upper = false;
  for (const c of name) {
    if (c === '_') upper = true;
    else {
      out += upper ? c.toUpperCase() : c;
      upper = false;
    }
  }
  return out;
}

/** protoc's map entry name: `filter_metadata` -> `FilterMetadataEntry`. */
function mapEntryName(fieldName: string): string {
  const camel = jsonNameOf(fieldName);
  return camel.charAt(0).toUpperCase() + camel.slice(1) + 'Entry';
}

type OptionBag = Record<string, unknown>;

/**
 * Custom options (`(validate.rules)`, `(envoy.annotations.…)`) seen while converting, applied in a
 * second pass once the registry knows the extensions and their message types.
 */
interface PendingOption {
  options: Message; // a google.protobuf.*Options message inside the descriptor
  extension: string; // e.g. "validate.rules"
  value: unknown; // text-format-like value from protobufjs
  where: string;
}

/** protobufjs `parsedOptions` ([{name: value}, …]) merged into one bag. */
function mergeParsed(parsed: unknown): OptionBag {
  const bag: OptionBag = {};
  if (!Array.isArray(parsed)) return bag;
  for (const entry of parsed as OptionBag[]) {
    for (const [k, v] of Object.entries(entry)) bag[k] = k in bag ? deepMerge(bag[k], v) : v;
  }
  return bag;
}

function deepMerge(a: unknown, b: unknown): unknown {
  if (isObject(a) && isObject(b)) {
    const out: OptionBag = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in out ? deepMerge(out[k], v) : v;
    return out;
  }
  return b;
}

/** Flattened protobufjs options (`{"(a.b).c.d": 1}`, as enum values have them) -> a bag. */
function unflatten(flat: OptionBag | undefined): OptionBag {
  const bag: OptionBag = {};
  for (const [key, v] of Object.entries(flat ?? {})) {
    const m = /^(\([^)]+\)|[^.]+)(?:\.(.+))?$/.exec(key);
    if (!m) continue;
    let value: unknown = v;
    for (const part of (m[2]?.split('.') ?? []).reverse()) value = { [part]: value };
    bag[m[1]!] = m[1]! in bag ? deepMerge(bag[m[1]!], value) : value;
  }
  return bag;
}

class DescriptorSetBuilder {
  readonly files = new Map<string, FileDescriptorProto>();
  /** Full type name (no leading dot) -> file that defines it. */
  private readonly fileOfType = new Map<string, string>();
  private readonly deps = new Map<string, Set<string>>();
  readonly pending: PendingOption[] = [];

  constructor(private readonly root: protobuf.Root) {
    for (const f of WKT_FILES) {
      this.files.set(f.proto.name, f.proto);
      const note = (prefix: string, messages: DescriptorProto[], enums: EnumDescriptorProto[]) => {
        for (const e of enums) this.fileOfType.set(prefix + e.name, f.proto.name);
        for (const m of messages) {
          this.fileOfType.set(prefix + m.name, f.proto.name);
          note(`${prefix}${m.name}.`, m.nestedType, m.enumType);
        }
      };
      note(`${f.proto.package}.`, f.proto.messageType, f.proto.enumType);
    }
  }

  build(): FileDescriptorSet {
    this.collect(this.root);
    // Dependencies are known only once every type has its file.
    for (const [name, file] of this.files) {
      if (name.startsWith('google/protobuf/')) continue;
      file.dependency = [...(this.deps.get(name) ?? [])].map((t) => this.requireFile(t, name)).filter((d, i, all) => d !== name && all.indexOf(d) === i).sort();
    }
    return create(FileDescriptorSetSchema, { file: this.topologicalOrder() });
  }

  private requireFile(typeName: string, from: string): string {
    const f = this.fileOfType.get(typeName);
    if (!f) throw new Error(`${from}: no file defines ${typeName}`);
    return f;
  }

  /** Files in dependency order: createFileRegistry resolves types against files already added. */
  private topologicalOrder(): FileDescriptorProto[] {
    const out: FileDescriptorProto[] = [];
    const done = new Set<string>();
    const visit = (name: string) => {
      if (done.has(name)) return;
      done.add(name);
      const file = this.files.get(name)!;
      for (const d of file.dependency) visit(d);
      out.push(file);
    };
    for (const name of [...this.files.keys()].sort()) visit(name);
    return out;
  }

  private fileName(obj: protobuf.ReflectionObject): string {
    for (let o: protobuf.ReflectionObject | null = obj; o; o = o.parent) {
      if (o.filename) {
        for (const dir of INCLUDE) if (o.filename.startsWith(dir + sep)) return o.filename.slice(dir.length + 1).split(sep).join('/');
        return o.filename;
      }
    }
    throw new Error(`no file for ${obj.fullName}`);
  }

  private file(obj: protobuf.ReflectionObject): FileDescriptorProto {
    const name = this.fileName(obj);
    let file = this.files.get(name);
    if (!file) {
      const edition = (obj as unknown as { _edition?: string })._edition;
      if (edition !== 'proto3' && edition !== 'proto2') throw new Error(`${name}: unsupported edition ${edition}`);
      file = create(FileDescriptorProtoSchema, {
        name,
        package: obj.parent ? obj.parent.fullName.replace(/^\./, '') : '',
        syntax: edition === 'proto3' ? 'proto3' : '',
      });
      this.files.set(name, file);
    }
    return file;
  }

  private useType(file: FileDescriptorProto, typeName: string): void {
    let set = this.deps.get(file.name);
    if (!set) this.deps.set(file.name, (set = new Set()));
    set.add(typeName);
  }

  private collect(ns: protobuf.NamespaceBase): void {
    for (const obj of ns.nestedArray) {
      if (obj.fullName.startsWith('.google.protobuf.')) continue; // from @bufbuild/protobuf
      if (obj instanceof protobuf.Type) {
        const file = this.file(obj);
        file.messageType.push(this.message(obj, file));
      } else if (obj instanceof protobuf.Enum) {
        const file = this.file(obj);
        file.enumType.push(this.enum(obj, file));
      } else if (obj instanceof protobuf.Service) {
        const file = this.file(obj);
        file.service.push(
          create(ServiceDescriptorProtoSchema, {
            name: obj.name,
            method: obj.methodsArray.map((m) => {
              m.resolve();
              const input = m.resolvedRequestType!.fullName.slice(1);
              const output = m.resolvedResponseType!.fullName.slice(1);
              this.useType(file, input);
              this.useType(file, output);
              return create(MethodDescriptorProtoSchema, {
                name: m.name,
                inputType: `.${input}`,
                outputType: `.${output}`,
                clientStreaming: Boolean(m.requestStream),
                serverStreaming: Boolean(m.responseStream),
              });
            }),
          }),
        );
      } else if (obj instanceof protobuf.Field) {
        if (!obj.extend) continue;
        const file = this.file(obj);
        const extendee = ns.lookup(obj.extend);
        if (!extendee) throw new Error(`${obj.fullName}: unknown extendee ${obj.extend}`);
        const ext = this.field(obj, file, undefined, undefined);
        ext.extendee = extendee.fullName;
        this.useType(file, extendee.fullName.slice(1));
        file.extension.push(ext);
      } else if (obj instanceof protobuf.Namespace) {
        this.collect(obj);
      }
    }
  }

  private noteType(obj: protobuf.ReflectionObject, file: FileDescriptorProto): void {
    this.fileOfType.set(obj.fullName.slice(1), file.name);
  }

  private message(type: protobuf.Type, file: FileDescriptorProto): DescriptorProto {
    this.noteType(type, file);
    const where = type.fullName.slice(1);
    const proto = create(DescriptorProtoSchema, { name: type.name });
    proto.options = this.options(MessageOptionsSchema, mergeParsed(type.parsedOptions), where);
    // protoc orders synthetic oneofs (proto3 `optional`) after the real ones.
    const isSynthetic = (o: protobuf.OneOf) => o.fieldsArray.length === 1 && o.fieldsArray[0]!.options?.proto3_optional === true;
    const oneofs = [...type.oneofsArray.filter((o) => !isSynthetic(o)), ...type.oneofsArray.filter(isSynthetic)];
    for (const o of oneofs) {
      proto.oneofDecl.push(
        create(OneofDescriptorProtoSchema, {
          name: o.name,
          options: this.options(OneofOptionsSchema, mergeParsed(o.parsedOptions), `${where}.${o.name}`),
        }),
      );
    }
    for (const f of type.fieldsArray) {
      if (f.declaringField || f.name.startsWith('.')) continue; // sister copies of extensions
      if (f instanceof protobuf.MapField) {
        const entryName = mapEntryName(f.name);
        const entry = create(DescriptorProtoSchema, {
          name: entryName,
          options: create(MessageOptionsSchema, { mapEntry: true }),
          field: [
            create(FieldDescriptorProtoSchema, { name: 'key', jsonName: 'key', number: 1, label: FieldDescriptorProto_Label.OPTIONAL, type: SCALAR[f.keyType]! }),
            this.typed(create(FieldDescriptorProtoSchema, { name: 'value', jsonName: 'value', number: 2, label: FieldDescriptorProto_Label.OPTIONAL }), f, file),
          ],
        });
        proto.nestedType.push(entry);
        const field = this.field(f, file, oneofs, `${where}.${f.name}`);
        field.type = FieldDescriptorProto_Type.MESSAGE;
        field.typeName = `${type.fullName}.${entryName}`;
        field.label = FieldDescriptorProto_Label.REPEATED;
        proto.field.push(field);
      } else {
        proto.field.push(this.field(f, file, oneofs, `${where}.${f.name}`));
      }
    }
    for (const n of type.nestedArray) {
      if (n instanceof protobuf.Type) proto.nestedType.push(this.message(n, file));
      else if (n instanceof protobuf.Enum) proto.enumType.push(this.enum(n, file));
      else if (n instanceof protobuf.Field && n.extend) throw new Error(`${n.fullName}: nested extensions are not supported`);
    }
    return proto;
  }

  /** The field's type (scalar, or message/enum by full name), as on a FieldDescriptorProto. */
  private typed(proto: FieldDescriptorProto, f: protobuf.Field, file: FileDescriptorProto): FieldDescriptorProto {
    f.resolve();
    const rt = f.resolvedType;
    if (rt instanceof protobuf.Type) {
      proto.type = f.delimited ? FieldDescriptorProto_Type.GROUP : FieldDescriptorProto_Type.MESSAGE;
      proto.typeName = rt.fullName;
      this.useType(file, rt.fullName.slice(1));
    } else if (rt instanceof protobuf.Enum) {
      proto.type = FieldDescriptorProto_Type.ENUM;
      proto.typeName = rt.fullName;
      this.useType(file, rt.fullName.slice(1));
    } else {
      const t = SCALAR[f.type];
      if (t === undefined) throw new Error(`${f.fullName}: unknown type ${f.type}`);
      proto.type = t;
    }
    return proto;
  }

  private field(f: protobuf.Field, file: FileDescriptorProto, oneofs: protobuf.OneOf[] | undefined, where: string | undefined): FieldDescriptorProto {
    const bag = mergeParsed(f.parsedOptions);
    const jsonName = typeof bag.json_name === 'string' ? bag.json_name : jsonNameOf(f.name);
    delete bag.json_name;
    delete bag.default; // proto2 defaults: irrelevant to JSON checks
    const proto = create(FieldDescriptorProtoSchema, {
      name: f.name,
      number: f.id,
      label: f.repeated ? FieldDescriptorProto_Label.REPEATED : f.required ? FieldDescriptorProto_Label.REQUIRED : FieldDescriptorProto_Label.OPTIONAL,
      jsonName: f.extend ? undefined : jsonName,
    });
    if (!(f instanceof protobuf.MapField)) this.typed(proto, f, file);
    if (f.partOf && oneofs) proto.oneofIndex = oneofs.indexOf(f.partOf);
    if (f.options?.proto3_optional === true) proto.proto3Optional = true;
    delete bag.proto3_optional;
    proto.options = this.options(FieldOptionsSchema, bag, where ?? f.fullName.slice(1));
    return proto;
  }

  private enum(e: protobuf.Enum, file: FileDescriptorProto): EnumDescriptorProto {
    this.noteType(e, file);
    const where = e.fullName.slice(1);
    const valuesOptions = (e as unknown as { valuesOptions?: Record<string, OptionBag> }).valuesOptions ?? {};
    return create(EnumDescriptorProtoSchema, {
      name: e.name,
      options: this.options(EnumOptionsSchema, mergeParsed(e.parsedOptions), where),
      value: Object.entries(e.values).map(([name, number]) =>
        create(EnumValueDescriptorProtoSchema, {
          name,
          number,
          options: this.options(EnumValueOptionsSchema, unflatten(valuesOptions[name]), `${where}.${name}`),
        }),
      ),
    });
  }

  /**
   * Standard options are set directly (`deprecated`, `map_entry`, …); custom ones `(x.y)` are
   * queued for `applyCustomOptions`. Undefined when there are none, as protoc leaves them.
   */
  private options<T extends DescMessage>(schema: T, bag: OptionBag, where: string): ReturnType<typeof create<T>> | undefined {
    const keys = Object.keys(bag);
    if (keys.length === 0) return undefined;
    const standard: OptionBag = {};
    const custom: [string, unknown][] = [];
    for (const k of keys) {
      if (k.startsWith('(')) custom.push([k.slice(1, -1), bag[k]]);
      else standard[k] = bag[k];
    }
    const options = fromJson(schema, standard as JsonValue, { ignoreUnknownFields: false });
    for (const [extension, value] of custom) this.pending.push({ options, extension, value, where });
    return options;
  }
}

/** A text-format-like value (as protobufjs parses option literals) -> init for `create()`. */
function toInit(desc: DescMessage, value: unknown, where: string): Record<string, unknown> {
  if (!isObject(value)) throw new Error(`${where}: expected a message literal for ${desc.typeName}`);
  const init: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const field = desc.fields.find((f) => f.name === k);
    if (!field) throw new Error(`${where}: ${desc.typeName} has no field ${k}`);
    const one = (x: unknown) => fieldInit(field, x, `${where}.${k}`);
    const converted = field.fieldKind === 'list' ? (Array.isArray(v) ? v : [v]).map(one) : one(v);
    if (field.oneof) init[field.oneof.localName] = { case: field.localName, value: converted };
    else init[field.localName] = converted;
  }
  return init;
}

function fieldInit(field: DescField, v: unknown, where: string): unknown {
  const message = field.fieldKind === 'message' || (field.fieldKind === 'list' && field.listKind === 'message') ? field.message : undefined;
  if (message) return create(message, toInit(message, v, where) as never);
  const enumDesc = field.fieldKind === 'enum' || (field.fieldKind === 'list' && field.listKind === 'enum') ? field.enum : undefined;
  if (enumDesc) {
    const ev = typeof v === 'number' ? enumDesc.values.find((x) => x.number === v) : enumDesc.values.find((x) => x.name === v);
    if (!ev) throw new Error(`${where}: ${String(v)} is not a ${enumDesc.typeName}`);
    return ev.number;
  }
  const scalar = field.fieldKind === 'scalar' || field.fieldKind === 'list' ? field.scalar : undefined;
  if (scalar === undefined) throw new Error(`${where}: unsupported option value`);
  return INT64_KINDS.has(scalar) ? BigInt(v as number | string) : v;
}

const INT64_KINDS = new Set([ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64]);

/** Second pass: encode each custom option as the extension value protoc would have written. */
function applyCustomOptions(set: FileDescriptorSet, pending: PendingOption[]): void {
  const draft = createFileRegistry(set);
  for (const p of pending) {
    const ext = draft.getExtension(p.extension);
    if (!ext) throw new Error(`${p.where}: unknown option (${p.extension})`);
    let value: unknown;
    if (ext.fieldKind === 'message') value = create(ext.message, toInit(ext.message, p.value, p.where) as never);
    else if (ext.fieldKind === 'enum' || ext.fieldKind === 'scalar') value = fieldInit(ext as unknown as DescField, p.value, p.where);
    else throw new Error(`${p.where}: unsupported option (${p.extension}) of kind ${ext.fieldKind}`);
    setExtension(p.options as never, ext, value as never);
  }
}

/**
 * The validate.proto shipped beside the Envoy API predates PGV's `ignore_empty`, which the Envoy
 * protos use (17 times), and protoc would refuse them; Envoy itself is built with the newer PGV.
 * Add the fields with upstream PGV's numbers, where missing, so the rules read as Envoy's do.
 */
function addMissingPgvFields(root: protobuf.Root): void {
  const numeric = ['Float', 'Double', 'Int32', 'Int64', 'UInt32', 'UInt64', 'SInt32', 'SInt64', 'Fixed32', 'Fixed64', 'SFixed32', 'SFixed64'];
  const ignoreEmpty: [string, number][] = [...numeric.map((n): [string, number] => [`${n}Rules`, 8]), ['StringRules', 26], ['BytesRules', 14], ['RepeatedRules', 5], ['MapRules', 6]];
  for (const [name, id] of ignoreEmpty) {
    const type = root.lookupType(`validate.${name}`);
    if (!type.fields.ignore_empty) type.add(new protobuf.Field('ignore_empty', id, 'bool', 'optional'));
  }
}

/** The Envoy protos as a FileDescriptorSet, as `protoc --include_imports` would write it. */
export function buildFileDescriptorSet(protos: readonly string[] = ENVOY_PROTOS): FileDescriptorSet {
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string) => {
    for (const dir of INCLUDE) {
      const p = join(dir, target);
      if (existsSync(p)) return p;
    }
    return target;
  };
  root.loadSync([...protos], { keepCase: true });
  addMissingPgvFields(root);
  root.resolveAll();
  const builder = new DescriptorSetBuilder(root);
  const set = builder.build();
  applyCustomOptions(set, builder.pending);
  return set;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
