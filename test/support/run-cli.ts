import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

/**
 * Runs the real `bin/meshgate` (the compiled CLI: build first, `npm run build`) as a child process.
 * `runCli` runs a command to completion; `spawnCli` keeps it running (for `serve`) with helpers to
 * wait for output and stop it. Children are killed by pid only, never by name.
 */

export const MESHGATE_BIN = resolve(fileURLToPath(new URL('../../bin/meshgate', import.meta.url)));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliRunOptions {
  cwd?: string;
  /** Variables added to (or, when undefined, removed from) the child's environment. */
  env?: Record<string, string | undefined>;
  /**
   * Start from a clean environment (PATH only, HOME pointing nowhere) instead of this process's:
   * no inherited KUBECONFIG or ~/.kube/config, so cluster commands reach only what `env` names.
   */
  hermetic?: boolean;
  input?: string;
  /** Kill the child after this long (a hung command fails the test instead of hanging it). */
  timeoutMs?: number;
}

function childEnv(extra: Record<string, string | undefined> = {}, hermetic = false): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = hermetic ? { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent-home' } : { ...process.env };
  // A developer's MESHGATE_* settings must not leak into tests.
  for (const k of Object.keys(env)) if (k.startsWith('MESHGATE_')) delete env[k];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function runCli(args: string[], opts: CliRunOptions = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(MESHGATE_BIN, args, { cwd: opts.cwd, env: childEnv(opts.env, opts.hermetic), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `re` in stderr (or stdout with `stream: 'stdout'`). */
  waitFor(re: RegExp, opts?: { stream?: 'stdout' | 'stderr'; timeoutMs?: number }): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal (default SIGTERM) and waits for the exit; SIGKILL after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnCli(args: string[], opts: CliRunOptions = {}): CliProcess {
  const child = spawn(MESHGATE_BIN, args, { cwd: opts.cwd, env: childEnv(opts.env, opts.hermetic), stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((l) => l());
  child.stdout!.setEncoding('utf8').on('data', (d: string) => ((out.stdout += d), notify()));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => ((out.stderr += d), notify()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.on('close', (code, signal) => {
      res({ code, signal });
      notify();
    });
  });
  let done = false;
  void exited.then(() => (done = true));

  return {
    child,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    exited,
    waitFor(re, o = {}) {
      const stream = o.stream ?? 'stderr';
      return new Promise((res, rej) => {
        const check = () => {
          const m = out[stream].match(re);
          if (m) {
            cleanup();
            res(m);
          } else if (done) {
            cleanup();
            rej(new Error(`meshgate exited before printing ${re}; stderr: ${out.stderr}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          rej(new Error(`timed out waiting for ${re}; stderr: ${out.stderr}`));
        }, o.timeoutMs ?? 15_000);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (!done && child.pid !== undefined) child.kill(signal);
      const timer = setTimeout(() => {
        if (!done) child.kill('SIGKILL');
      }, timeoutMs);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
}

export interface ServeProcess extends CliProcess {
  url: string;
  port: number;
  /** The CA path the start line printed (relative to cwd for --dev), if any. */
  caPath?: string;
}

/** Starts `meshgate serve ARGS` and waits for its "meshgate serving https://host:port" line. */
export async function startServe(args: string[], opts: CliRunOptions = {}): Promise<ServeProcess> {
  const proc = spawnCli(['serve', ...args], opts);
  try {
    const m = await proc.waitFor(/meshgate serving (https:\/\/(\[[^\]]+\]|[^:\s]+):(\d+))[^\n]*\n/);
    const ca = /CA: ([^;)]+)/.exec(m[0]);
    return { ...proc, url: m[1]!, port: Number(m[3]), ...(ca ? { caPath: ca[1]!.trim() } : {}) };
  } catch (err) {
    await proc.stop('SIGKILL');
    throw err;
  }
}
