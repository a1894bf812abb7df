import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, createFileRegistry, fromBinary, fromJson, toBinary, toJson, type DescMessage, type FileRegistry, type JsonValue, type Message } from '@bufbuild/protobuf';
import { AnySchema, FileDescriptorSetSchema, type Any } from '@bufbuild/protobuf/wkt';
import type { Json } from '../egress/proxy-config.js';
import { TYPE_URL_PREFIX } from '../vocabulary/envoy-names.js';
import type { DiscoveryRequestView } from './stream-protocol.js';

/**
 * The Envoy messages the ADS server sends and receives, at runtime, with @bufbuild/protobuf alone:
 * the descriptors are a binary FileDescriptorSet that `npm run build` generates from Envoy's .proto
 * files (scripts/build-envoy-descriptors.ts → dist/xds/envoy-descriptors.binpb), so the server needs
 * neither the .proto files nor a proto parser. Loaded on first use (about 100 ms), not at start-up.
 */

export const DESCRIPTORS_FILE = join('dist', 'xds', 'envoy-descriptors.binpb');

/** The repository (package) root: this module runs from src/xds/ (tsx) or dist/src/xds/. */
export function descriptorSetPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = here.endsWith(join('dist', 'src', 'xds')) ? join(here, '..', '..', '..') : join(here, '..', '..');
  return join(root, DESCRIPTORS_FILE);
}

/** A resource as sent: its name and its `Any` (type URL and encoded bytes), shared by every stream. */
export interface EncodedResource {
  readonly name: string;
  readonly any: Any;
}

export interface DiscoveryRequestInit {
  versionInfo?: string;
  node?: { id: string; cluster: string };
  resourceNames?: string[];
  typeUrl: string;
  responseNonce?: string;
  errorDetail?: { code: number; message: string };
}

export interface DecodedResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  controlPlane?: string;
  resources: { typeUrl: string; value: Uint8Array }[];
}

const REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';
const RESPONSE = 'envoy.service.discovery.v3.DiscoveryResponse';

interface RequestMessage extends Message {
  versionInfo: string;
  node?: { id: string; cluster: string };
  resourceNames: string[];
  typeUrl: string;
  responseNonce: string;
  errorDetail?: { code: number; message: string };
}

interface ResponseMessage extends Message {
  versionInfo: string;
  resources: Any[];
  typeUrl: string;
  nonce: string;
  controlPlane?: { identifier: string };
}

/** At most this many encoded resources are kept; the least recently used go first. */
const MAX_CACHED_RESOURCES = 50_000;

export class EnvoyTypes {
  private readonly request: DescMessage;
  private readonly response: DescMessage;
  private readonly controlPlane: DescMessage;
  /** content hash → encoded resource: one encoding however many ServiceAccounts and streams share it. */
  private readonly encoded = new Map<string, EncodedResource>();

  constructor(readonly registry: FileRegistry) {
    const need = (name: string) => {
      const d = registry.getMessage(name);
      if (!d) throw new Error(`the Envoy descriptors lack ${name}: rebuild them (npm run build)`);
      return d;
    };
    this.request = need(REQUEST);
    this.response = need(RESPONSE);
    this.controlPlane = need('envoy.config.core.v3.ControlPlane');
  }

  /** Reads the descriptor set written at build time. */
  static load(path = descriptorSetPath()): EnvoyTypes {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read the Envoy descriptors ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}): run npm run build`);
    }
    return new EnvoyTypes(createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes)));
  }

  decodeRequest(bytes: Uint8Array): DiscoveryRequestView {
    const m = fromBinary(this.request, bytes) as RequestMessage;
    return {
      versionInfo: m.versionInfo,
      node: m.node ? { id: m.node.id, cluster: m.node.cluster } : undefined,
      resourceNames: m.resourceNames,
      typeUrl: m.typeUrl,
      responseNonce: m.responseNonce,
      errorDetail: m.errorDetail ? { code: m.errorDetail.code, message: m.errorDetail.message } : undefined,
    };
  }

  encodeResponse(res: { versionInfo: string; typeUrl: string; nonce: string; resources: readonly EncodedResource[]; controlPlane?: string }): Uint8Array {
    const message = create(this.response, {
      versionInfo: res.versionInfo,
      typeUrl: res.typeUrl,
      nonce: res.nonce,
      resources: res.resources.map((r) => r.any),
      ...(res.controlPlane ? { controlPlane: create(this.controlPlane, { identifier: res.controlPlane }) } : {}),
    } as never);
    return toBinary(this.response, message);
  }

  /** For ADS clients (tests, the load generator): a DiscoveryRequest's bytes. */
  encodeRequest(req: DiscoveryRequestInit): Uint8Array {
    const node = req.node ? create(this.registry.getMessage('envoy.config.core.v3.Node')!, req.node as never) : undefined;
    const errorDetail = req.errorDetail ? create(this.registry.getMessage('google.rpc.Status')!, req.errorDetail as never) : undefined;
    const message = create(this.request, {
      versionInfo: req.versionInfo ?? '',
      resourceNames: req.resourceNames ?? [],
      typeUrl: req.typeUrl,
      responseNonce: req.responseNonce ?? '',
      ...(node ? { node } : {}),
      ...(errorDetail ? { errorDetail } : {}),
    } as never);
    return toBinary(this.request, message);
  }

  /** For ADS clients: a DiscoveryResponse, resources left as `Any`. */
  decodeResponse(bytes: Uint8Array): DecodedResponse {
    const m = fromBinary(this.response, bytes) as ResponseMessage;
    return {
      versionInfo: m.versionInfo,
      typeUrl: m.typeUrl,
      nonce: m.nonce,
      ...(m.controlPlane ? { controlPlane: m.controlPlane.identifier } : {}),
      resources: m.resources.map((a) => ({ typeUrl: a.typeUrl, value: a.value })),
    };
  }

  /** An `Any`'s content as proto3 JSON with proto field names (what the compiler writes). */
  resourceToJson(typeUrl: string, value: Uint8Array): Json {
    const desc = this.messageOf(typeUrl);
    return toJson(desc, fromBinary(desc, value), { registry: this.registry, useProtoFieldName: true }) as Json;
  }

  /**
   * A compiled resource (proto3 JSON with its `@type`) as an `Any`. Cached by content: equal
   * resources give the same object, so streams and snapshots share it and compare it with `===`.
   * Throws when the JSON is not a valid message of its type (a compiler bug, never user input).
   */
  encodeResource(json: Json): EncodedResource {
    const text = JSON.stringify(json);
    const key = createHash('sha256').update(text).digest('base64url');
    const hit = this.encoded.get(key);
    if (hit) {
      // Most recently used goes to the end.
      this.encoded.delete(key);
      this.encoded.set(key, hit);
      return hit;
    }
    const obj = json as { [k: string]: Json };
    const typeUrl = obj['@type'];
    if (typeof typeUrl !== 'string') throw new Error('a compiled resource has no "@type"');
    const name = typeof obj.name === 'string' ? obj.name : '';
    const desc = this.messageOf(typeUrl);
    const { ['@type']: _type, ...body } = obj;
    const message = fromJson(desc, body as JsonValue, { registry: this.registry });
    const encoded: EncodedResource = { name, any: create(AnySchema, { typeUrl, value: toBinary(desc, message) }) };
    this.encoded.set(key, encoded);
    while (this.encoded.size > MAX_CACHED_RESOURCES) this.encoded.delete(this.encoded.keys().next().value!);
    return encoded;
  }

  get cachedResources(): number {
    return this.encoded.size;
  }

  private messageOf(typeUrl: string): DescMessage {
    const typeName = typeUrl.startsWith(TYPE_URL_PREFIX) ? typeUrl.slice(TYPE_URL_PREFIX.length) : typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
    const desc = this.registry.getMessage(typeName);
    if (!desc) throw new Error(`unknown Envoy message ${typeName}`);
    return desc;
  }
}

let shared: EnvoyTypes | undefined;

/** The process's EnvoyTypes, loaded on first use. */
export function envoyTypes(): EnvoyTypes {
  return (shared ??= EnvoyTypes.load());
}
