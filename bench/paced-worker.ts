/**
 * Runs the paced (open-loop) load in a process of its own and prints the results as JSON:
 * `node paced-worker.js '<options JSON>' RUNS`. The benchmark's own process has driven minutes of
 * closed-loop load by then, and its heap with it; a pause of that process to collect its garbage
 * delays the paced requests and shows up as the server's latency. A fresh process measures the
 * server instead.
 */
import { pacedLoad, type PacedResult } from './paced-load.js';

const [optionsJson, runs] = process.argv.slice(2);
const options = JSON.parse(optionsJson!) as Parameters<typeof pacedLoad>[0];
// A discarded run first: the first second or two of a fresh process is its JIT compiling the
// generator's hot code on a background thread, which on two cores takes CPU from the server and
// showed up as a backlog of 20–40 ms in the first measured run.
await pacedLoad({ ...options, durationSeconds: 2 });
const results: PacedResult[] = [];
for (let i = 0; i < Number(runs ?? 1); i++) results.push(await pacedLoad(options));
process.stdout.write(`${JSON.stringify(results)}\n`);
