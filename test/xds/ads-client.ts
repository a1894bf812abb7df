import { Client, credentials, Metadata, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { ADS_METHOD_PATH } from '../../src/xds/ads-server.js';
import { EnvoyTypes, type DecodedResponse, type DiscoveryRequestInit } from '../../src/xds/envoy-types.js';
import { TYPE_URLS } from '../../src/xds/stream-protocol.js';

/**
 * An ADS client for the tests, speaking the protocol as Envoy does: @grpc/grpc-js over TLS, the
 * Envoy messages through the same build-time descriptors (bufbuild). Responses are queued;
 * `next()` takes the oldest, `none()` asserts that nothing arrives for a while.
 */

let types: EnvoyTypes | undefined;
export function clientTypes(): EnvoyTypes {
  return (types ??= EnvoyTypes.load());
}

export const LDS = TYPE_URLS.listener;
export const RDS = TYPE_URLS.route;
export const CDS = TYPE_URLS.cluster;

export interface AdsClientOptions {
  port: number;
  host?: string;
  ca: string;
  token?: string;
  /** The name the serving certificate must carry (default localhost). */
  servername?: string;
}

export interface StreamEnd {
  code: number;
  details: string;
}

/**
 * One ADS stream as a sidecar opens it: gRPC over TLS with meshgate's CA, the serving certificate's
 * name checked, and `authorization: Bearer <token>` when a token is given. Shared by the tests'
 * client and the network-namespace rig's agent.
 */
export function openAdsStream(opts: AdsClientOptions): { client: Client; call: ClientDuplexStream<Uint8Array, Buffer> } {
  const servername = opts.servername ?? 'localhost';
  const client = new Client(`${opts.host ?? '127.0.0.1'}:${opts.port}`, credentials.createSsl(Buffer.from(opts.ca)), {
    'grpc.ssl_target_name_override': servername,
    'grpc.default_authority': servername,
  });
  const md = new Metadata();
  if (opts.token !== undefined) md.set('authorization', `Bearer ${opts.token}`);
  const call = client.makeBidiStreamRequest(
    ADS_METHOD_PATH,
    (r: Uint8Array) => Buffer.from(r.buffer, r.byteOffset, r.byteLength),
    (b: Buffer) => b,
    md,
  );
  return { client, call };
}

export class AdsClient {
  private readonly client: Client;
  private readonly call: ClientDuplexStream<Uint8Array, Buffer>;
  private readonly queue: DecodedResponse[] = [];
  private waiters: (() => void)[] = [];
  /** Resolves when the server ends the stream (with its status). */
  readonly ended: Promise<StreamEnd>;
  private endedWith: StreamEnd | undefined;

  constructor(opts: AdsClientOptions) {
    ({ client: this.client, call: this.call } = openAdsStream(opts));
    this.ended = new Promise((resolve) => {
      this.call.on('status', (s: { code: number; details: string }) => {
        this.endedWith = { code: s.code, details: s.details };
        resolve(this.endedWith);
        this.notify();
      });
    });
    this.call.on('error', (_e: ServiceError) => {
      // The status event carries it.
    });
    this.call.on('data', (b: Buffer) => {
      this.queue.push(clientTypes().decodeResponse(b));
      this.notify();
    });
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(req: DiscoveryRequestInit): void {
    this.call.write(clientTypes().encodeRequest(req));
  }

  /** The next response (waits up to `timeoutMs`). */
  async next(timeoutMs = 5000): Promise<DecodedResponse> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      if (this.endedWith) throw new Error(`stream ended (${this.endedWith.code}: ${this.endedWith.details}) while waiting for a response`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no DiscoveryResponse within the timeout');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.queue.shift()!;
  }

  /** Responses of the given type until one arrives (others are kept in order). */
  async nextOf(typeUrl: string, timeoutMs = 5000): Promise<DecodedResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.queue.findIndex((r) => r.typeUrl === typeUrl);
      if (i >= 0) return this.queue.splice(i, 1)[0]!;
      if (this.endedWith) throw new Error(`stream ended (${this.endedWith.code}: ${this.endedWith.details}) while waiting for ${typeUrl}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${typeUrl} response within the timeout`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Asserts that no response arrives within `ms`. */
  async none(ms = 300): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    if (this.queue.length > 0) throw new Error(`unexpected response(s): ${this.queue.map((r) => `${r.typeUrl} ${r.versionInfo}`).join(', ')}`);
  }

  /** ACK of a response, with the names to keep (RDS). */
  ack(r: DecodedResponse, resourceNames: string[] = []): void {
    this.send({ typeUrl: r.typeUrl, versionInfo: r.versionInfo, responseNonce: r.nonce, resourceNames });
  }

  /** NACK of a response: the previous version, the nonce, and Envoy's error_detail. */
  nack(r: DecodedResponse, previousVersion: string, message: string, resourceNames: string[] = []): void {
    this.send({ typeUrl: r.typeUrl, versionInfo: previousVersion, responseNonce: r.nonce, resourceNames, errorDetail: { code: 3, message } });
  }

  close(): void {
    this.call.end();
    this.client.close();
  }

  cancel(): void {
    this.call.cancel();
    this.client.close();
  }
}

/** Names of a response's resources (decoded). */
export function resourceNames(r: DecodedResponse): string[] {
  return r.resources.map((a) => (clientTypes().resourceToJson(a.typeUrl, a.value) as { name: string }).name);
}
