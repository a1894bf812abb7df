/**
 * `npm run bench`: admission throughput and latency of `meshgate serve` (its own process, real
 * HTTPS, keep-alive) against a bare node:https ceiling, in one run on one machine. Prints a table
 * and writes JSON. Options: --policies N (default 10000), --duration SECONDS (default 5),
 * --connections N (default 16), --out FILE, --only compile (the egress compiler's figures alone),
 * --only startup (just the time-to-ready figures, in
 * about a minute; written to bench/results/startup.json unless --out says otherwise), --only ads
 * (the ADS figures alone, bench/ads-bench.ts: --streams N (default 2000), --accounts N (default
 * 200), --ads-rounds N (default 3), --cpu-prof DIR for the server's CPU profile; written to
 * bench/results/ads.json).
 */
import { adsFigures, adsLines } from './ads-bench.js';
import { compileFigures, compileLines } from './compile-bench.js';
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateBundle } from '../src/certs/generate.js';
import type { pacedLoad, PacedResult } from './paced-load.js';
import { SCENARIOS, validEgress, type Scenario } from './scenarios.js';
import { writeSyntheticState, writeSyntheticStateYaml } from './synthetic-state.js';
import { freePort } from '../test/support/free-port.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values: args } = parseArgs({
  options: {
    policies: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    out: { type: 'string' },
    only: { type: 'string' },
    streams: { type: 'string', default: '2000' },
    accounts: { type: 'string', default: '200' },
    'ads-rounds': { type: 'string', default: '3' },
    'cpu-prof': { type: 'string' },
  },
});
if (args.only !== undefined && args.only !== 'startup' && args.only !== 'compile' && args.only !== 'ads') {
  throw new Error(`--only: unknown part ${JSON.stringify(args.only)}: the parts are "startup", "compile" and "ads"`);
}
const ONLY_ADS = args.only === 'ads';
const ONLY_STARTUP = args.only === 'startup';
const ONLY_COMPILE = args.only === 'compile';
const OUT = args.out ?? join(root, args.only ? `bench/results/${args.only}.json` : 'bench/results/latest.json');
const POLICIES = Number(args.policies);
const DURATION = Number(args.duration);
const CONNECTIONS = Number(args.connections);

interface Tls {
  ca: string;
  certPath: string;
  keyPath: string;
}

interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  errors: number;
  non2xx: number;
}


function httpsJson(port: number, tls: Tls, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((res, rej) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { host: '127.0.0.1', port, method, path, ca: tls.ca, servername: 'localhost', headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} },
      (resp) => {
        const chunks: Buffer[] = [];
        resp.on('data', (c: Buffer) => chunks.push(c));
        resp.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = text;
          }
          res({ status: resp.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', rej);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.end(data);
  });
}

async function waitReady(port: number, tls: Tls, child: ChildProcess, timeoutMs = 120_000): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before it was ready`);
    try {
      const r = await httpsJson(port, tls, 'GET', '/readyz');
      if (r.status === 200) return performance.now() - start;
    } catch {
      /* not listening yet */
    }
    if (performance.now() - start > timeoutMs) throw new Error('server not ready in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function peakRssMiB(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => {
    const m = /VmHWM:\s+(\d+) kB/.exec(s);
    return m ? Number(m[1]) / 1024 : NaN;
  });
}

/** A short unrecorded run first, so both servers are measured with their code optimized by the JIT. */
async function warmUp(port: number, tls: Tls, path: string, body: unknown): Promise<void> {
  await autocannon({
    url: `https://127.0.0.1:${port}${path}?timeout=10s`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    connections: CONNECTIONS,
    duration: 1,
    tlsOptions: { ca: tls.ca, servername: 'localhost' },
  } as autocannon.Options);
}

/** How many paced runs each half-rate figure takes the median of. */
const HALF_RATE_RUNS = 3;

/**
 * Latency at half the measured maximum rate, from an evenly paced open-loop load: the median p99
 * (and p50, p99.9) of HALF_RATE_RUNS runs, each with its own connections and warm-up. One run's
 * p99 rests on its worst 1%, and a single pause of the load generator itself (the first run after
 * the response size changes is the usual one) can fill that on its own; every run's p99 is kept
 * in the JSON.
 */
async function halfRate(port: number, tls: Tls, path: string, body: unknown, maxRps: number): Promise<LoadResult & { runsP99: number[] }> {
  const options = { port, path, body: JSON.stringify(body), ca: tls.ca, rate: maxRps / 2, durationSeconds: DURATION, connections: CONNECTIONS };
  const results = await pacedInOwnProcess(options, HALF_RATE_RUNS);
  const runs: LoadResult[] = results.map((r) => ({ rps: r.completed / DURATION, p50: r.p50, p99: r.p99, p999: r.p999, errors: r.errors, non2xx: 0 }));
  const median = (pick: (r: LoadResult) => number) => runs.map(pick).sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
  return {
    rps: median((r) => r.rps),
    p50: median((r) => r.p50),
    p99: median((r) => r.p99),
    p999: median((r) => r.p999),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    non2xx: 0,
    runsP99: runs.map((r) => r.p99),
  };
}

/** The paced runs, in a fresh process (bench/paced-worker.ts says why). */
function pacedInOwnProcess(options: Parameters<typeof pacedLoad>[0], runs: number): Promise<PacedResult[]> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(root, 'dist/bench/paced-worker.js'), JSON.stringify(options), String(runs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`paced load exited with ${code}`));
      else resolvePromise(JSON.parse(out) as PacedResult[]);
    });
  });
}

/** The maximum rate: closed-loop load on every connection, after a warm-up. */
async function load(port: number, tls: Tls, path: string, body: unknown): Promise<LoadResult> {
  await warmUp(port, tls, path, body);
  const r = await autocannon({
    url: `https://127.0.0.1:${port}${path}?timeout=10s`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    connections: CONNECTIONS,
    duration: DURATION,
    tlsOptions: { ca: tls.ca, servername: 'localhost' },
  } as autocannon.Options);
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    p999: (r.latency as unknown as Record<string, number>).p99_9 ?? NaN,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

function outcomeOf(json: any): string {
  const resp = json?.response;
  if (!resp) return 'no response';
  if (resp.allowed === false) return 'denied';
  if (resp.patch) return 'patched';
  return resp.allowed ? 'allowed' : 'unknown';
}

async function startMeshgate(stateDir: string, tls: Tls): Promise<{ child: ChildProcess; port: number; readyMs: number }> {
  const port = await freePort();
  // Launched the way users launch it: bin/meshgate (the project's Node, its flags).
  const child = spawn(
    join(root, 'bin/meshgate'),
    ['serve', '--state', stateDir, '--tls-cert', tls.certPath, '--tls-key', tls.keyPath, '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const readyMs = await waitReady(port, tls, child);
  return { child, port, readyMs };
}

/** How many starts each time-to-ready figure takes the median of. */
const STARTUP_RUNS = 3;

interface StartupFigure {
  state: string;
  files: number;
  bytes: number;
  readyMs: number;
  runsMs: number[];
}

/**
 * Time from process start to the first /readyz 200, median of STARTUP_RUNS starts: with the
 * synthetic state in one YAML file, the same objects as JSON Lists, and the example state (three
 * small files: the start-up cost without state to read) as the baseline of the same run. The
 * starts are interleaved, so a burst of load elsewhere on the machine falls on all of them alike.
 */
async function startupFigures(tls: Tls, work: string): Promise<{ oneYamlFile: StartupFigure; jsonLists: StartupFigure; exampleState: StartupFigure; ratio: number }> {
  const size = { namespaces: 1000, policies: POLICIES, routeGroups: 1000 };
  const yamlDir = join(work, 'state-one-yaml');
  const jsonDir = join(work, 'state-json-lists');
  const exampleDir = join(root, 'examples/state');
  const yamlBytes = await writeSyntheticStateYaml(yamlDir, size);
  await writeSyntheticState(jsonDir, size);
  const states = [
    { name: 'example state', dir: exampleDir },
    { name: `${POLICIES} policies in one YAML file`, dir: yamlDir },
    { name: `${POLICIES} policies as JSON Lists`, dir: jsonDir },
  ];
  const runs = new Map<string, number[]>(states.map((s) => [s.dir, []]));
  for (let i = 0; i < STARTUP_RUNS; i++) {
    for (const s of states) {
      process.stderr.write(`ready with ${s.name} (${i + 1}/${STARTUP_RUNS}) …\n`);
      const mg = await startMeshgate(s.dir, tls);
      await stop(mg.child);
      runs.get(s.dir)!.push(mg.readyMs);
    }
  }
  const figure = async (dir: string): Promise<StartupFigure> => {
    const files = (await readdir(dir)).filter((f) => /\.(ya?ml|json)$/.test(f));
    const bytes = (await Promise.all(files.map((f) => stat(join(dir, f))))).reduce((n, st) => n + st.size, 0);
    const ms = runs.get(dir)!;
    return { state: dir === exampleDir ? 'examples/state' : 'synthetic', files: files.length, bytes: dir === yamlDir ? yamlBytes : bytes, readyMs: median(ms), runsMs: ms };
  };
  const oneYamlFile = await figure(yamlDir);
  const exampleState = await figure(exampleDir);
  return { oneYamlFile, jsonLists: await figure(jsonDir), exampleState, ratio: oneYamlFile.readyMs / exampleState.readyMs };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function startupLines(s: Awaited<ReturnType<typeof startupFigures>>, policies: number): string[] {
  const f = (n: number) => n.toFixed(0);
  const line = (label: string, x: StartupFigure) => `| ${label} | ${x.files} | ${(x.bytes / 2 ** 20).toFixed(1)} | ${f(x.readyMs)} | ${x.runsMs.map(f).join(' / ')} | ${(x.readyMs / s.exampleState.readyMs).toFixed(2)} |`;
  return [
    `| ready after start (median of ${STARTUP_RUNS}) | files | MiB | ms | runs ms | ratio to example state |`,
    '|---|---:|---:|---:|---:|---:|',
    line('example state (baseline)', s.exampleState),
    line(`${policies} policies in one YAML file`, s.oneYamlFile),
    line(`${policies} policies as JSON Lists`, s.jsonLists),
  ];
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((res) => {
    child.once('exit', () => res());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

function adsContext(tls: Tls): Parameters<typeof adsFigures>[0] {
  return {
    root,
    tls,
    policies: POLICIES,
    streams: Number(args.streams),
    accounts: Number(args.accounts),
    rounds: Number(args['ads-rounds']),
    admissionRps: async (port) => (await load(port, tls, '/validate', validEgress())).rps,
    ...(args['cpu-prof'] ? { cpuProfDir: resolve(args['cpu-prof']) } : {}),
    log: (line) => process.stderr.write(`${line}\n`),
  };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'meshgate-bench-'));
  try {
    const bundle = await generateBundle('meshgate-bench-ca', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const tls: Tls = { ca: bundle.caCert, certPath: join(work, 'tls.crt'), keyPath: join(work, 'tls.key') };
    await writeFile(tls.certPath, bundle.cert);
    await writeFile(tls.keyPath, bundle.key);

    const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
    if (ONLY_COMPILE) {
      const compile = compileFigures();
      process.stdout.write(`machine: ${machine.cores} cores, ${machine.cpu}, Node ${machine.node}\n\n${compileLines(compile).join('\n')}\n`);
      await writeResult({ machine, compile });
      return;
    }
    if (ONLY_ADS) {
      process.stderr.write(`machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}; the ADS load process shares the cores with the server\n`);
      const ads = await adsFigures(adsContext(tls));
      process.stdout.write(`machine: ${machine.cores} cores, ${machine.cpu}, Node ${machine.node} (the load process shares the cores)\n\n${adsLines(ads).join('\n')}\n`);
      await writeResult({ machine, ads });
      return;
    }
    if (ONLY_STARTUP) {
      process.stderr.write(`machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}\n`);
      const startup = await startupFigures(tls, work);
      process.stdout.write(`machine: ${machine.cores} cores, ${machine.cpu}, Node ${machine.node}\n\n${startupLines(startup, POLICIES).join('\n')}\n`);
      await writeResult({ machine, settings: { policies: POLICIES, namespaces: 1000, routeGroups: 1000 }, startup });
      return;
    }

    const mainState = join(work, 'state-main');
    const smallState = join(work, 'state-1000');
    await writeSyntheticState(mainState, { namespaces: 1000, policies: POLICIES, routeGroups: 1000 });
    await writeSyntheticState(smallState, { namespaces: 1000, policies: 1000, routeGroups: 1000 });

    process.stderr.write(`machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}\n`);
    process.stderr.write(`state: 1000 namespaces, ${POLICIES} Egress policies, 1000 HTTPRouteGroups; ${DURATION}s per run, ${CONNECTIONS} connections\n`);

    // Ceiling: a bare node:https webhook.
    const cport = await freePort();
    const ceiling = spawn(process.execPath, [join(root, 'dist/bench/ceiling-server.js'), tls.certPath, tls.keyPath, String(cport)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => ceiling.stdout!.once('data', () => res()));
    process.stderr.write('ceiling: bare node:https …\n');
    const ceilingMax = await load(cport, tls, '/validate', validEgress());
    const ceilingHalf = await halfRate(cport, tls, '/validate', validEgress(), ceilingMax.rps);
    const ceilingRss = await peakRssMiB(ceiling.pid!);

    // meshgate with the main state (the ceiling stays up, idle, as the same-rate latency baseline).
    const mg = await startMeshgate(mainState, tls);
    process.stderr.write(`meshgate ready in ${mg.readyMs.toFixed(0)} ms\n`);
    const rows: Record<string, unknown>[] = [];
    rows.push({
      scenario: 'ceiling (bare node:https)',
      ...ceilingMax,
      half: { rate: Math.floor(ceilingMax.rps / 2), p50: ceilingHalf.p50, p99: ceilingHalf.p99, p999: ceilingHalf.p999, runsP99: ceilingHalf.runsP99, errors: ceilingHalf.errors },
      ratio: 1,
      rssMiB: ceilingRss,
    });
    let patchBytes = 0;
    for (const s of SCENARIOS) {
      const answer = await sanityCheck(mg.port, tls, s);
      if (s.name === 'mutate curl pod') patchBytes = String(answer.response.patch).length;
      process.stderr.write(`${s.name} …\n`);
      const max = await load(mg.port, tls, s.path, s.body);
      const half = await halfRate(mg.port, tls, s.path, s.body, max.rps);
      // The ceiling at the same rate: what the machine and the load generator alone give.
      const baseline = await halfRate(cport, tls, '/validate', validEgress(), max.rps);
      // The ceiling sent this scenario's own request (a pod is larger to parse than an Egress).
      const sameRequest = await load(cport, tls, s.path, s.body);
      rows.push({
        scenario: s.name,
        ...max,
        sameRequestCeiling: { rps: sameRequest.rps, ratio: max.rps / sameRequest.rps },
        half: { rate: Math.floor(max.rps / 2), p50: half.p50, p99: half.p99, p999: half.p999, runsP99: half.runsP99, errors: half.errors, ceilingP99: baseline.p99, ceilingRunsP99: baseline.runsP99 },
        ratio: max.rps / ceilingMax.rps,
      });
    }
    await stop(ceiling);

    // The same bare server answering a fixed patch as long as meshgate's for the curl pod: what
    // sending that many bytes alone allows, with no work to compute them.
    const sport = await freePort();
    const sized = spawn(process.execPath, [join(root, 'dist/bench/ceiling-server.js'), tls.certPath, tls.keyPath, String(sport), String(patchBytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => sized.stdout!.once('data', () => res()));
    process.stderr.write(`ceiling answering a fixed ${patchBytes}-byte patch …\n`);
    const sizedMax = await load(sport, tls, '/mutate', SCENARIOS.find((s) => s.name === 'mutate curl pod')!.body);
    await stop(sized);
    rows.push({ scenario: `ceiling with a fixed ${patchBytes}-byte patch`, ...sizedMax, ratio: sizedMax.rps / ceilingMax.rps });
    const mainRss = await peakRssMiB(mg.child.pid!);
    const mainValidate = rows[1]!.rps as number;
    await stop(mg.child);

    // Scale: the same validate scenario against 1,000 policies.
    const small = await startMeshgate(smallState, tls);
    process.stderr.write('validate valid Egress at 1,000 policies …\n');
    const smallValidate = await load(small.port, tls, '/validate', validEgress());
    const smallRss = await peakRssMiB(small.child.pid!);
    await stop(small.child);

    // Time to ready: one YAML file, JSON Lists, and the example state as the baseline.
    const startup = await startupFigures(tls, work);
    // The egress compiler, in this process (no server involved).
    const compile = compileFigures();
    // ADS: streams, pushes and their cost (bench/ads-bench.ts).
    const ads = await adsFigures(adsContext(tls));

    const result = {
      machine,
      settings: { policies: POLICIES, namespaces: 1000, routeGroups: 1000, durationSeconds: DURATION, connections: CONNECTIONS },
      readyMs: mg.readyMs,
      peakRssMiB: { meshgate: mainRss, meshgateAt1000: smallRss, ceiling: ceilingRss },
      scenarios: rows,
      scale: { policies: POLICIES, rps: mainValidate, rpsAt1000: smallValidate.rps, ratio: mainValidate / smallValidate.rps },
      startup,
      compile,
      ads,
    };
    printTable(result);
    await writeResult(result);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function writeResult(result: unknown): Promise<void> {
  await mkdir(dirname(OUT), { recursive: true });
  await writeFile(OUT, JSON.stringify(result, null, 2) + '\n');
  process.stderr.write(`wrote ${OUT}\n`);
}

async function sanityCheck(port: number, tls: Tls, s: Scenario): Promise<any> {
  const r = await httpsJson(port, tls, 'POST', `${s.path}?timeout=10s`, s.body);
  const got = outcomeOf(r.json);
  const want = s.expect === 'skipped' ? 'allowed' : s.expect;
  if (r.status !== 200 || got !== want) {
    throw new Error(`scenario "${s.name}": expected ${s.expect}, got HTTP ${r.status} ${got}: ${JSON.stringify(r.json).slice(0, 300)}`);
  }
  return r.json;
}

function printTable(r: any): void {
  const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const lines: string[] = [];
  lines.push(`machine: ${r.machine.cores} cores, ${r.machine.cpu}, Node ${r.machine.node}`);
  lines.push(`state: ${r.settings.namespaces} namespaces, ${r.settings.policies} Egress, ${r.settings.routeGroups} HTTPRouteGroups; ${r.settings.connections} connections, ${r.settings.durationSeconds}s runs`);
  lines.push('');
  lines.push('| scenario | req/s | ratio to ceiling | ceiling sent the same request: req/s (ratio) | p50 ms | p99 ms | p99.9 ms | p99 ms at half rate (median of 3) | ceiling p99 ms at that rate | errors |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of r.scenarios) {
    const same = row.sameRequestCeiling ? `${f(row.sameRequestCeiling.rps)} (${f(row.sameRequestCeiling.ratio, 2)})` : '-';
    lines.push(`| ${row.scenario} | ${f(row.rps)} | ${f(row.ratio, 2)} | ${same} | ${f(row.p50, 1)} | ${f(row.p99, 1)} | ${f(row.p999, 1)} | ${row.half ? `${f(row.half.p99, 2)} (runs ${row.half.runsP99.map((v: number) => f(v, 1)).join(' / ')}; at ${row.half.rate}/s)` : '-'} | ${row.half?.ceilingP99 !== undefined ? f(row.half.ceilingP99, 2) : '-'} | ${row.errors + row.non2xx + (row.half?.errors ?? 0)} |`);
  }
  lines.push('');
  lines.push(`ready after start: ${f(r.readyMs)} ms with ${r.settings.policies + r.settings.namespaces + r.settings.routeGroups} objects in state`);
  lines.push(`peak RSS: meshgate ${f(r.peakRssMiB.meshgate)} MiB (${r.settings.policies} policies), ${f(r.peakRssMiB.meshgateAt1000)} MiB (1000 policies); ceiling ${f(r.peakRssMiB.ceiling)} MiB`);
  lines.push(`scale: validate at ${r.scale.policies} policies ${f(r.scale.rps)} req/s vs ${f(r.scale.rpsAt1000)} at 1000 = ${f(r.scale.ratio, 2)}x`);
  lines.push('');
  lines.push(...startupLines(r.startup, r.settings.policies));
  lines.push('');
  lines.push(...compileLines(r.compile));
  lines.push('');
  lines.push(...adsLines(r.ads));
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
