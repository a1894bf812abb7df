/**
 * The ADS load of `npm run bench -- --only ads`, in a process of its own (forked with an IPC
 * channel by bench/ads-bench.ts): N ADS streams against one `meshgate serve`, each on its own
 * grpc-js channel (a local subchannel pool: its own TCP and TLS connection, as each Envoy has),
 * each behaving as Envoy does with ADS: the first request (CDS, wildcard) carries the node; CDS
 * ACKed, then LDS asked for; each listener ACKed and the RDS subscription set to the route names
 * it references; every response ACKed with its version and nonce.
 *
 * Commands (process.send):
 * - `open`: opens the streams (`concurrency` at a time) and answers `opened` once each holds its
 *   initial CDS, LDS and RDS.
 * - `mark`: forgets what was received so far (answers `marked`).
 * - `settle`: waits until each stream in `expect` has received a response since the mark and no
 *   stream has received anything for `quietMs` (or `timeoutMs` passed), then answers `settled`
 *   with, for every stream that received something since the mark, how many responses and when the
 *   last arrived (ms since the epoch, `performance.timeOrigin + performance.now()`: the parent's
 *   clock), and the versions it then held.
 * - `close`: closes the streams and exits.
 */
import { Client, credentials, Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import { ADS_METHOD_PATH } from '../src/xds/ads-server.js';
import { EnvoyTypes, type DecodedResponse } from '../src/xds/envoy-types.js';
import { TYPE_URLS } from '../src/xds/stream-protocol.js';

const CDS = TYPE_URLS.cluster;
const LDS = TYPE_URLS.listener;
const RDS = TYPE_URLS.route;

export interface LoadStreamSpec {
  /** `ns/sa` */
  account: string;
  token: string;
  node: { id: string; cluster: string };
}

export type LoadCommand =
  | { cmd: 'open'; port: number; ca: string; streams: LoadStreamSpec[]; concurrency: number; timeoutMs: number }
  | { cmd: 'mark' }
  | { cmd: 'settle'; expect: number[]; quietMs: number; timeoutMs: number }
  | { cmd: 'close' };

export interface StreamReceipt {
  index: number;
  responses: number;
  /** When the last response since the mark arrived (ms since the epoch). */
  last: number;
  versions: { cds: string; lds: string; rds: string };
}

export type LoadEvent =
  | { ev: 'opened'; ms: number; ready: number; failed: string[] }
  | { ev: 'marked' }
  | { ev: 'settled'; timedOut: boolean; receipts: StreamReceipt[]; ended: number }
  | { ev: 'closed' };

const now = () => performance.timeOrigin + performance.now();
const types = EnvoyTypes.load();
/** Route names by LDS version: every stream of a ServiceAccount gets the same listeners. */
const routeNamesByVersion = new Map<string, string[]>();

function routeNamesOf(r: DecodedResponse): string[] {
  const cached = routeNamesByVersion.get(r.versionInfo);
  if (cached) return cached;
  const names = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) visit(x);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'route_config_name' && typeof x === 'string') names.add(x);
        else visit(x);
      }
    }
  };
  for (const a of r.resources) visit(types.resourceToJson(a.typeUrl, a.value));
  const sorted = [...names].sort();
  routeNamesByVersion.set(r.versionInfo, sorted);
  return sorted;
}

class EnvoyLikeStream {
  private readonly client: Client;
  private readonly call: ClientDuplexStream<Uint8Array, Buffer>;
  readonly acked = { cds: '', lds: '', rds: '' };
  private rdsNames: string[] = [];
  private rdsNonce = '';
  private ldsAsked = false;
  private initial = { cds: false, lds: false, rds: false };
  ready: Promise<void>;
  private readyResolve!: () => void;
  private readyReject!: (e: Error) => void;
  ended: { code: number; details: string } | undefined;
  /** Since the mark. */
  responses = 0;
  last = 0;

  constructor(
    readonly index: number,
    spec: LoadStreamSpec,
    port: number,
    ca: Buffer,
    private readonly onResponse: () => void,
  ) {
    this.ready = new Promise((res, rej) => {
      this.readyResolve = res;
      this.readyReject = rej;
    });
    this.client = new Client(`127.0.0.1:${port}`, credentials.createSsl(ca), {
      'grpc.ssl_target_name_override': 'localhost',
      'grpc.default_authority': 'localhost',
      // Its own connection, as each sidecar has (the default global pool would share one).
      'grpc.use_local_subchannel_pool': 1,
    });
    const md = new Metadata();
    md.set('authorization', `Bearer ${spec.token}`);
    this.call = this.client.makeBidiStreamRequest(
      ADS_METHOD_PATH,
      (r: Uint8Array) => Buffer.from(r.buffer, r.byteOffset, r.byteLength),
      (b: Buffer) => b,
      md,
    );
    this.call.on('status', (s: { code: number; details: string }) => {
      this.ended = { code: s.code, details: s.details };
      this.readyReject(new Error(`stream ${index} (${spec.account}) ended: ${s.code} ${s.details}`));
    });
    this.call.on('error', () => {
      /* the status event carries it */
    });
    this.call.on('data', (b: Buffer) => this.receive(types.decodeResponse(b)));
    // Envoy's first request: CDS with the node (`set_node_on_first_message_only`).
    this.send({ typeUrl: CDS, node: spec.node });
  }

  private send(req: Parameters<EnvoyTypes['encodeRequest']>[0]): void {
    this.call.write(types.encodeRequest(req));
  }

  private receive(r: DecodedResponse): void {
    this.responses++;
    this.last = now();
    if (r.typeUrl === CDS) {
      this.acked.cds = r.versionInfo;
      this.send({ typeUrl: CDS, versionInfo: r.versionInfo, responseNonce: r.nonce });
      this.initial.cds = true;
      if (!this.ldsAsked) {
        this.ldsAsked = true;
        this.send({ typeUrl: LDS });
      }
    } else if (r.typeUrl === LDS) {
      const names = routeNamesOf(r);
      this.acked.lds = r.versionInfo;
      this.send({ typeUrl: LDS, versionInfo: r.versionInfo, responseNonce: r.nonce });
      this.initial.lds = true;
      if (names.join('\n') !== this.rdsNames.join('\n')) {
        // The listeners reference other route configurations: the RDS subscription follows.
        this.rdsNames = names;
        this.send({ typeUrl: RDS, versionInfo: this.acked.rds, responseNonce: this.rdsNonce, resourceNames: names });
      }
      if (names.length === 0) this.initial.rds = true;
    } else if (r.typeUrl === RDS) {
      this.acked.rds = r.versionInfo;
      this.rdsNonce = r.nonce;
      this.send({ typeUrl: RDS, versionInfo: r.versionInfo, responseNonce: r.nonce, resourceNames: this.rdsNames });
      this.initial.rds = true;
    }
    if (this.initial.cds && this.initial.lds && this.initial.rds) this.readyResolve();
    this.onResponse();
  }

  close(): void {
    this.call.end();
    this.client.close();
  }
}

const streams: EnvoyLikeStream[] = [];
let lastResponseAt = 0;
const noteResponse = () => {
  lastResponseAt = now();
};

async function open(c: Extract<LoadCommand, { cmd: 'open' }>): Promise<LoadEvent> {
  const start = now();
  const ca = Buffer.from(c.ca);
  const failed: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < c.streams.length) {
      const i = next++;
      const s = new EnvoyLikeStream(streams.length, c.streams[i]!, c.port, ca, noteResponse);
      streams.push(s);
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([s.ready, new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`stream ${i} not ready in ${c.timeoutMs} ms`)), c.timeoutMs)))]);
      } catch (err) {
        failed.push(err instanceof Error ? err.message : String(err));
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, worker));
  return { ev: 'opened', ms: now() - start, ready: c.streams.length - failed.length, failed: failed.slice(0, 10) };
}

function mark(): LoadEvent {
  for (const s of streams) {
    s.responses = 0;
    s.last = 0;
  }
  return { ev: 'marked' };
}

async function settle(c: Extract<LoadCommand, { cmd: 'settle' }>): Promise<LoadEvent> {
  const deadline = now() + c.timeoutMs;
  let timedOut = false;
  for (;;) {
    const waiting = c.expect.some((i) => streams[i]!.responses === 0 && !streams[i]!.ended);
    const quietFor = now() - Math.max(lastResponseAt, 0);
    if (!waiting && quietFor >= c.quietMs) break;
    if (now() > deadline) {
      timedOut = true;
      break;
    }
    await new Promise((r) => setTimeout(r, waiting ? 5 : Math.max(5, c.quietMs - quietFor)));
  }
  const receipts: StreamReceipt[] = [];
  for (const s of streams) if (s.responses > 0) receipts.push({ index: s.index, responses: s.responses, last: s.last, versions: { ...s.acked } });
  return { ev: 'settled', timedOut, receipts, ended: streams.filter((s) => s.ended).length };
}

process.on('message', (m: LoadCommand) => {
  const reply = (e: LoadEvent) => process.send!(e);
  switch (m.cmd) {
    case 'open':
      void open(m).then(reply);
      break;
    case 'mark':
      reply(mark());
      break;
    case 'settle':
      void settle(m).then(reply);
      break;
    case 'close':
      for (const s of streams) s.close();
      reply({ ev: 'closed' });
      setTimeout(() => process.exit(0), 200);
      break;
  }
});
