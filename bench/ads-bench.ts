/**
 * The ADS part of `npm run bench` (`--only ads`, and in the full run): one `meshgate serve` on the
 * project's fake API server (test/support/fake-apiserver.ts, in this process) holding the synthetic
 * state (10,000 Egress policies by default), N ADS streams from a load process of its own
 * (bench/ads-load.ts; default 2,000 across 200 ServiceAccounts, each authenticated with a token of
 * its ServiceAccount that the server checks by TokenReview), and:
 * - convergence: an Egress listing 10% of the ServiceAccounts created, updated and deleted through
 *   the API server; for each affected stream, the time from the API write to the last response of
 *   the push it received (the stream then holds the new versions, all ACKed);
 * - pushes: streams that received anything after each change against the streams affected (and
 *   the responses unaffected streams received: must be none);
 * - server RSS per idle stream: (VmRSS with N streams − VmRSS with none) / N, and the marginal cost
 *   of streams beyond the first per ServiceAccount (the connections alone, without compiled configs);
 * - admission requests/s (validate a valid Egress) with the N streams idle, against a twin
 *   `meshgate serve` on the same API server that never gets a stream, measured in turns (the
 *   median of the per-turn ratios: other load on the machine falls on both alike);
 * - the CPU both processes use while the streams idle.
 * `cpuProfDir` runs the server with `--cpu-prof` (written when it stops).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer, type KubeObj } from '../test/support/fake-apiserver.js';
import type { LoadCommand, LoadEvent, LoadStreamSpec, StreamReceipt } from './ads-load.js';
import { syntheticObjects } from './synthetic-state.js';
import { freePort } from '../test/support/free-port.js';

export interface AdsBenchContext {
  root: string;
  tls: { ca: string; certPath: string; keyPath: string };
  policies: number;
  streams: number;
  accounts: number;
  /** Create/update/delete rounds of the change. */
  rounds: number;
  /** Admission throughput against a server (closed loop, after a warm-up). */
  admissionRps: (port: number) => Promise<number>;
  /** Writes the server's CPU profile (`--cpu-prof`) into this directory. */
  cpuProfDir?: string;
  log: (line: string) => void;
}

export interface ChangeFigure {
  change: string;
  affected: number;
  pushed: number;
  pushedAffected: number;
  unaffectedResponses: number;
  notConverged: number;
  p50Ms: number;
  p99Ms: number;
  lastMs: number;
  timedOut: boolean;
}

export interface AdsFigures {
  settings: { policies: number; streams: number; accounts: number; affectedAccounts: number; rounds: number };
  openMs: number;
  /** CPU use (% of one core) over 3 s with the streams open and nothing changing. */
  idleCpu: { serverPercent: number; loadPercent: number };
  connectedProxies: number;
  convergence: { p50Ms: number; p99Ms: number; maxMs: number; lastMsMedian: number; samples: number };
  pushes: { affected: number; pushed: number; pushedAffected: number; unaffectedResponses: number; notConverged: number };
  changes: ChangeFigure[];
  rss: { withoutMiB: number; perAccountMiB: number; withMiB: number; perStreamKiB: number; marginalPerStreamKiB: number; heapUsedPerStreamKiB: number; externalPerStreamKiB: number };
  /** withRps, withoutRps, ratio: medians over the pairs (the streams' server, then its twin). */
  admission: { beforeStreamsRps: number; withoutRps: number; withRps: number; ratio: number; pairs: { withRps: number; withoutRps: number }[] };
  targets: { convergenceP99Ms: number; unaffectedPushes: number; perStreamKiB: number; admissionRatio: number };
  met: { convergence: boolean; unaffected: boolean; rss: boolean; admission: boolean };
}

export const ADS_TARGETS = { convergenceP99Ms: 1000, unaffectedPushes: 0, perStreamKiB: 64, admissionRatio: 0.9 };

/** Admission runs in turns, server with streams then its twin without. */
const ADMISSION_PAIRS = 5;

/** The server's JS heap in use and external memory, from its /metrics (prom-client's default metrics). */
function memoryOf(metrics: string): { heapUsed: number; external: number } {
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(metrics)?.[1] ?? NaN);
  return { heapUsed: value('meshgate_nodejs_heap_size_used_bytes'), external: value('meshgate_nodejs_external_memory_bytes') };
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function rssMiB(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(s);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU time (user + system) of a process so far, ms (/proc/PID/stat, clock ticks of 10 ms). */
async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /s, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}


function httpsGet(port: number, ca: string, path: string): Promise<{ status: number; text: string }> {
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, path, ca, servername: 'localhost' }, (r) => {
      let text = '';
      r.setEncoding('utf8').on('data', (c: string) => (text += c));
      r.on('end', () => res({ status: r.statusCode ?? 0, text }));
    });
    req.on('error', rej);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** The load process, spoken to over its IPC channel. */
class LoadProcess {
  private readonly child: ChildProcess;
  private readonly inbox: LoadEvent[] = [];
  private waiter: (() => void) | undefined;
  private exited: string | undefined;
  get pid(): number {
    return this.child.pid!;
  }

  constructor(root: string) {
    this.child = fork(join(root, 'dist/bench/ads-load.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: LoadEvent) => {
      this.inbox.push(m);
      this.waiter?.();
    });
    this.child.on('exit', (code) => {
      this.exited = `load process exited with ${code}`;
      this.waiter?.();
    });
  }

  async ask<E extends LoadEvent['ev']>(cmd: LoadCommand, ev: E): Promise<Extract<LoadEvent, { ev: E }>> {
    this.child.send(cmd);
    for (;;) {
      const i = this.inbox.findIndex((m) => m.ev === ev);
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Extract<LoadEvent, { ev: E }>;
      if (this.exited) throw new Error(this.exited);
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    try {
      await this.ask({ cmd: 'close' }, 'closed');
    } catch {
      /* exited already */
    }
    setTimeout(() => this.child.kill('SIGKILL'), 5000).unref();
    await gone;
  }
}

async function stopServe(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((res) => {
    child.once('exit', () => res());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
  });
}

export async function adsFigures(ctx: AdsBenchContext): Promise<AdsFigures> {
  const { log } = ctx;
  const work = await mkdtemp(join(tmpdir(), 'meshgate-bench-ads-'));
  const api = await FakeApiServer.start();
  let serve: ChildProcess | undefined;
  let twin: ChildProcess | undefined;
  let load: LoadProcess | undefined;
  try {
    // The synthetic state in the API server: namespaces first (a namespaced create needs its namespace).
    const objects = syntheticObjects({ namespaces: 1000, policies: ctx.policies, routeGroups: 1000 }) as KubeObj[];
    const rank = (o: KubeObj) => (o.kind === 'Namespace' ? 0 : 1);
    for (const o of [...objects].sort((a, b) => rank(a) - rank(b))) api.create(o);

    // The ServiceAccounts: the first `accounts` namespaces' sources, each named by policies.
    const named = new Map<string, number>();
    for (const o of objects) {
      if (o.kind !== 'Egress') continue;
      for (const s of (o as { spec: { sources: { name: string; namespace: string }[] } }).spec.sources) named.set(`${s.namespace}/${s.name}`, (named.get(`${s.namespace}/${s.name}`) ?? 0) + 1);
    }
    const accounts = [...named.keys()].sort((a, b) => Number(a.split('/')[0]!.slice(3)) - Number(b.split('/')[0]!.slice(3)) || (a < b ? -1 : 1)).slice(0, ctx.accounts);
    if (accounts.length < ctx.accounts) throw new Error(`only ${accounts.length} ServiceAccounts are named by the synthetic policies; ${ctx.accounts} asked for`);
    const tokens = new Map(accounts.map((a) => [a, api.issueToken({ namespace: a.split('/')[0]!, name: a.split('/')[1]!, expirationSeconds: 86_400 })]));
    const specs: LoadStreamSpec[] = Array.from({ length: ctx.streams }, (_, i) => {
      const account = accounts[i % accounts.length]!;
      const [ns, sa] = account.split('/') as [string, string];
      return { account, token: tokens.get(account)!, node: { id: `bench-${i}.${ns}`, cluster: `${sa}.${ns}` } };
    });
    log(`ADS: ${ctx.streams} streams across ${accounts.length} ServiceAccounts (${named.get(accounts[0]!)} policies each), ${ctx.policies} policies in the fake API server`);

    // meshgate serve on the fake API server, as a user starts it.
    const kubeconfig = await api.kubeconfig({ dir: work });
    const port = await freePort();
    const xdsPort = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.KUBECONFIG;
    if (ctx.cpuProfDir) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${ctx.cpuProfDir}`.trim();
    const startServe = (p: number, xds: number, e: NodeJS.ProcessEnv) =>
      spawn(
        join(ctx.root, 'bin/meshgate'),
        ['serve', '--kubeconfig', kubeconfig, '--tls-cert', ctx.tls.certPath, '--tls-key', ctx.tls.keyPath, '--port', String(p), '--host', '127.0.0.1', '--xds-port', String(xds), '--log-level', 'warn'],
        { stdio: ['ignore', 'ignore', 'inherit'], env: e },
      );
    const untilReady = async (child: ChildProcess, p: number) => {
      const started = now();
      for (;;) {
        if (child.exitCode !== null) throw new Error(`meshgate serve exited with ${child.exitCode} before it was ready`);
        const r = await httpsGet(p, ctx.tls.ca, '/readyz').catch(() => undefined);
        if (r?.status === 200) return now() - started;
        if (now() - started > 120_000) throw new Error('meshgate serve not ready in 120 s');
        await sleep(20);
      }
    };
    serve = startServe(port, xdsPort, env);
    log(`ADS: meshgate serve ready on the fake API server in ${(await untilReady(serve, port)).toFixed(0)} ms`);
    // Its twin on the same API server, never given a stream: the admission baseline measured in
    // turns with the server holding the streams, so load elsewhere on the machine falls on both alike.
    const twinPort = await freePort();
    const twinEnv = { ...env };
    delete twinEnv.NODE_OPTIONS;
    twin = startServe(twinPort, 0, twinEnv);
    await untilReady(twin, twinPort);

    // Admission without streams, then the server's RSS at rest.
    log('ADS: admission (validate valid Egress) without streams …');
    const withoutRps = await ctx.admissionRps(port);
    await sleep(2000);
    const rss0 = await rssMiB(serve.pid!);
    const mem0 = memoryOf((await httpsGet(port, ctx.tls.ca, '/metrics')).text);

    // One stream per ServiceAccount (their configs compiled), then the rest.
    load = new LoadProcess(ctx.root);
    const firstBatch = specs.slice(0, accounts.length);
    const o1 = await load.ask({ cmd: 'open', port: xdsPort, ca: ctx.tls.ca, streams: firstBatch, concurrency: 32, timeoutMs: 60_000 }, 'opened');
    if (o1.failed.length > 0) throw new Error(`ADS streams failed: ${o1.failed.join('; ')}`);
    await sleep(2000);
    const rssAccounts = await rssMiB(serve.pid!);
    const o2 = await load.ask({ cmd: 'open', port: xdsPort, ca: ctx.tls.ca, streams: specs.slice(accounts.length), concurrency: 32, timeoutMs: 60_000 }, 'opened');
    if (o2.failed.length > 0) throw new Error(`ADS streams failed: ${o2.failed.join('; ')}`);
    const openMs = o1.ms + o2.ms;
    log(`ADS: ${ctx.streams} streams open, each holding its CDS, LDS and RDS, in ${(openMs / 1000).toFixed(1)} s`);
    await sleep(3000);
    // CPU the idle streams cost: the server's and the load process's over 3 s of nothing happening.
    const idle0 = [await cpuMs(serve.pid!), await cpuMs(load.pid)];
    await sleep(3000);
    const idleCpu = { serverPercent: ((await cpuMs(serve.pid!)) - idle0[0]!) / 30, loadPercent: ((await cpuMs(load.pid)) - idle0[1]!) / 30 };
    const rssN = await rssMiB(serve.pid!);
    const metrics = await httpsGet(port, ctx.tls.ca, '/metrics');
    const memN = memoryOf(metrics.text);
    const connectedProxies = Number(/^meshgate_xds_connected_proxies (\d+)/m.exec(metrics.text)?.[1] ?? NaN);
    if (connectedProxies !== ctx.streams) throw new Error(`the server counts ${connectedProxies} connected proxies, ${ctx.streams} expected`);

    // In turns: the server holding the idle streams, its twin without.
    const pairs: { withRps: number; withoutRps: number }[] = [];
    for (let i = 0; i < ADMISSION_PAIRS; i++) {
      log(`ADS: admission with ${ctx.streams} idle streams, and the twin without (${i + 1}/${ADMISSION_PAIRS}) …`);
      const w = await ctx.admissionRps(port);
      pairs.push({ withRps: w, withoutRps: await ctx.admissionRps(twinPort) });
    }

    // Changes affecting 10% of the ServiceAccounts (so 10% of the streams).
    const affectedCount = Math.max(1, Math.round(accounts.length / 10));
    const changes: ChangeFigure[] = [];
    const latencies: number[] = [];
    const streamsOf = (accts: Set<string>) => specs.map((s, i) => (accts.has(s.account) ? i : -1)).filter((i) => i >= 0);
    const held = new Map<number, StreamReceipt['versions']>();
    for (let round = 0; round < ctx.rounds; round++) {
      const step = Math.max(1, Math.floor(accounts.length / affectedCount));
      const chosen = Array.from({ length: affectedCount }, (_, k) => accounts[(k * step + round) % accounts.length]!);
      const affected = streamsOf(new Set(chosen));
      const [ns] = chosen[0]!.split('/') as [string];
      const egress = (host: string): KubeObj => ({
        apiVersion: 'policy.openservicemesh.io/v1alpha1',
        kind: 'Egress',
        metadata: { name: `bench-change-${round}`, namespace: ns },
        spec: {
          sources: chosen.map((a) => ({ kind: 'ServiceAccount', name: a.split('/')[1]!, namespace: a.split('/')[0]! })),
          hosts: [host],
          ports: [{ number: 443, protocol: 'https' }],
        },
      });
      const ops: [string, () => void][] = [
        ['create', () => api.create(egress(`bench-${round}-a.example.com`))],
        ['update', () => api.mergePatch('policy.openservicemesh.io/v1alpha1', 'Egress', `bench-change-${round}`, ns, { spec: { hosts: [`bench-${round}-b.example.com`] } })],
        ['delete', () => api.remove('policy.openservicemesh.io/v1alpha1', 'Egress', `bench-change-${round}`, ns)],
      ];
      for (const [name, op] of ops) {
        await load.ask({ cmd: 'mark' }, 'marked');
        const t0 = now();
        op();
        const settled = await load.ask({ cmd: 'settle', expect: affected, quietMs: 1000, timeoutMs: 20_000 }, 'settled');
        const affectedSet = new Set(affected);
        const got = new Map(settled.receipts.map((r) => [r.index, r]));
        const ms = affected.filter((i) => got.has(i)).map((i) => got.get(i)!.last - t0);
        latencies.push(...ms);
        // Holding the new version: every affected stream's versions moved, and a ServiceAccount's streams agree.
        let notConverged = 0;
        const byAccount = new Map<string, string>();
        for (const i of affected) {
          const r = got.get(i);
          const v = r ? `${r.versions.cds} ${r.versions.lds} ${r.versions.rds}` : undefined;
          const before = held.get(i);
          const prev = before ? `${before.cds} ${before.lds} ${before.rds}` : undefined;
          const agreed = byAccount.get(specs[i]!.account);
          if (v === undefined || v === prev || (agreed !== undefined && agreed !== v)) notConverged++;
          if (v !== undefined && agreed === undefined) byAccount.set(specs[i]!.account, v);
          if (r) held.set(i, r.versions);
        }
        const unaffectedResponses = settled.receipts.filter((r) => !affectedSet.has(r.index)).reduce((n, r) => n + r.responses, 0);
        const figure: ChangeFigure = {
          change: `${name} (round ${round + 1})`,
          affected: affected.length,
          pushed: settled.receipts.length,
          pushedAffected: settled.receipts.filter((r) => affectedSet.has(r.index)).length,
          unaffectedResponses,
          notConverged,
          p50Ms: percentile(ms, 50),
          p99Ms: percentile(ms, 99),
          lastMs: Math.max(...ms),
          timedOut: settled.timedOut,
        };
        changes.push(figure);
        log(
          `ADS: ${figure.change}: ${figure.pushed} streams pushed / ${figure.affected} affected, p50 ${figure.p50Ms.toFixed(0)} ms, p99 ${figure.p99Ms.toFixed(0)} ms, last ${figure.lastMs.toFixed(0)} ms` +
            `${unaffectedResponses ? `, ${unaffectedResponses} responses to unaffected streams` : ''}${notConverged ? `, ${notConverged} not holding new versions` : ''}${settled.timedOut ? ' (timed out)' : ''}`,
        );
        if (settled.ended > 0) throw new Error(`${settled.ended} ADS streams ended during the changes`);
      }
    }

    const sum = (pick: (c: ChangeFigure) => number) => changes.reduce((n, c) => n + pick(c), 0);
    const pushes = { affected: sum((c) => c.affected), pushed: sum((c) => c.pushed), pushedAffected: sum((c) => c.pushedAffected), unaffectedResponses: sum((c) => c.unaffectedResponses), notConverged: sum((c) => c.notConverged) };
    const convergence = {
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: Math.max(...latencies),
      lastMsMedian: percentile(changes.map((c) => c.lastMs), 50),
      samples: latencies.length,
    };
    const rss = {
      withoutMiB: rss0,
      perAccountMiB: rssAccounts,
      withMiB: rssN,
      perStreamKiB: ((rssN - rss0) * 1024) / ctx.streams,
      marginalPerStreamKiB: ((rssN - rssAccounts) * 1024) / (ctx.streams - accounts.length),
      heapUsedPerStreamKiB: (memN.heapUsed - mem0.heapUsed) / 1024 / ctx.streams,
      externalPerStreamKiB: (memN.external - mem0.external) / 1024 / ctx.streams,
    };
    const admission = {
      beforeStreamsRps: withoutRps,
      withRps: percentile(pairs.map((p) => p.withRps), 50),
      withoutRps: percentile(pairs.map((p) => p.withoutRps), 50),
      ratio: percentile(pairs.map((p) => p.withRps / p.withoutRps), 50),
      pairs,
    };
    return {
      settings: { policies: ctx.policies, streams: ctx.streams, accounts: accounts.length, affectedAccounts: affectedCount, rounds: ctx.rounds },
      openMs,
      idleCpu,
      connectedProxies,
      convergence,
      pushes,
      changes,
      rss,
      admission,
      targets: ADS_TARGETS,
      met: {
        convergence: convergence.p99Ms <= ADS_TARGETS.convergenceP99Ms && pushes.notConverged === 0 && !changes.some((c) => c.timedOut),
        unaffected: pushes.unaffectedResponses === 0 && pushes.pushed === pushes.affected,
        rss: rss.perStreamKiB <= ADS_TARGETS.perStreamKiB,
        admission: admission.ratio >= ADS_TARGETS.admissionRatio,
      },
    };
  } finally {
    await load?.close();
    if (serve) await stopServe(serve);
    if (twin) await stopServe(twin);
    await api.close();
    await rm(work, { recursive: true, force: true });
  }
}

export function adsLines(a: AdsFigures): string[] {
  const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const ok = (b: boolean) => (b ? 'met' : 'MISSED');
  const s = a.settings;
  return [
    `ADS: ${s.streams} streams across ${s.accounts} ServiceAccounts, ${s.policies} policies; changes: an Egress listing ${s.affectedAccounts} ServiceAccounts (${Math.round((100 * s.affectedAccounts) / s.accounts)}% of the streams) created, updated, deleted × ${s.rounds}`,
    '',
    '| ADS figure | measured | target | |',
    '|---|---:|---:|---|',
    `| convergence after an API write, p50 / p99 ms (over ${a.convergence.samples} stream pushes) | ${f(a.convergence.p50Ms)} / ${f(a.convergence.p99Ms)} | p99 ≤ ${a.targets.convergenceP99Ms} | ${ok(a.met.convergence)} |`,
    `| time to the last affected stream, median / worst of ${a.changes.length} changes, ms | ${f(a.convergence.lastMsMedian)} / ${f(a.convergence.maxMs)} | | |`,
    `| streams pushed / affected (responses to unaffected streams) | ${a.pushes.pushed} / ${a.pushes.affected} (${a.pushes.unaffectedResponses}) | equal (0) | ${ok(a.met.unaffected)} |`,
    `| server RSS per idle stream, KiB ((${f(a.rss.withMiB)} − ${f(a.rss.withoutMiB)} MiB) / ${s.streams}) | ${f(a.rss.perStreamKiB, 1)} | ≤ ${a.targets.perStreamKiB} | ${ok(a.met.rss)} |`,
    `| … beyond one stream per ServiceAccount (the connection alone), KiB | ${f(a.rss.marginalPerStreamKiB, 1)} | | |`,
    `| … of which JS heap in use / external memory, KiB per stream | ${f(a.rss.heapUsedPerStreamKiB, 1)} / ${f(a.rss.externalPerStreamKiB, 1)} | | |`,
    `| admission req/s with ${s.streams} idle streams / the twin server without (median of ${a.admission.pairs.length} turns; ratios ${a.admission.pairs.map((p) => f(p.withRps / p.withoutRps, 2)).join(', ')}) | ${f(a.admission.withRps)} / ${f(a.admission.withoutRps)} = ${f(a.admission.ratio, 2)}× | ≥ ${a.targets.admissionRatio}× | ${ok(a.met.admission)} |`,
    `| time to open the ${s.streams} streams (each holding CDS, LDS, RDS), s | ${f(a.openMs / 1000, 1)} | | |`,
    `| CPU with the streams idle, % of a core: server / load process | ${f(a.idleCpu.serverPercent, 1)} / ${f(a.idleCpu.loadPercent, 1)} | | |`,
  ];
}
