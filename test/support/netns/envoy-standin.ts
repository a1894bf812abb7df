/**
 * The Envoy stand-in (envoy-standin.py) driven from tests: started in the rig's pod namespace as
 * the proxy UID on 15001, reloaded with SIGHUP, stopped. It enforces exactly the subset of Envoy
 * v3 that meshgate's compiler emits (`{version, listeners, routeConfigurations, clusters}`, see
 * compiled-shapes.md) and refuses anything else, so it also works as a strict checker
 * (checkProxyConfig, no namespace or root needed).
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROXY_UID, PYTHON, run, type NetnsRig } from './rig.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Passed with `python3 -c`, as the rig does, so UID 1500 needs no access to the checkout. */
const STANDIN_PY = readFileSync(join(here, 'envoy-standin.py'), 'utf8');

/** What `meshgate proxy config --for NS/SA -o json` prints. */
export interface ProxyConfig {
  version: string;
  listeners: unknown[];
  routeConfigurations: unknown[];
  clusters: unknown[];
}

/** The proxy's DNS: name → address(es). The stand-in re-reads it at every lookup. */
export type Hosts = Record<string, string | readonly string[]>;

export interface StandinOptions {
  /** Overrides the listener's listener_filters_timeout (seconds), to keep timeout tests short. */
  listenerFiltersTimeoutS?: number;
}

export type ReloadResult = { ok: true; version: string } | { ok: false; error: string };
export type CheckResult = { ok: true; version: string } | { ok: false; error: string };

function hostsText(hosts: Hosts): string {
  return Object.entries(hosts)
    .flatMap(([name, ips]) => (typeof ips === 'string' ? [ips] : ips).map((ip) => `${name} ${ip}\n`))
    .join('');
}

/** Writes via rename so the stand-in never reads half a file; mode 0644 for UID 1500. */
function writeReadable(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  chmodSync(tmp, 0o644);
  renameSync(tmp, file);
}

export class EnvoyStandin {
  private stdout = '';
  private stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {
    child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  private static files(dir: string) {
    return { config: join(dir, 'config.json'), hosts: join(dir, 'hosts') };
  }

  /**
   * Writes config and hosts to a fresh temp dir (readable by UID 1500), starts the stand-in in the
   * pod namespace as PROXY_UID and waits for "ready". Rejects with its stderr (one line naming the
   * field) if it refuses the config.
   */
  static async start(rig: NetnsRig, config: ProxyConfig, hosts: Hosts, opts: StandinOptions = {}): Promise<EnvoyStandin> {
    const dir = mkdtempSync(join(tmpdir(), 'mg-envoy-'));
    chmodSync(dir, 0o755);
    const f = EnvoyStandin.files(dir);
    writeReadable(f.config, JSON.stringify(config, null, 2));
    writeReadable(f.hosts, hostsText(hosts));
    const args = ['--config', f.config, '--hosts', f.hosts];
    if (opts.listenerFiltersTimeoutS !== undefined) args.push('--listener-filters-timeout', String(opts.listenerFiltersTimeoutS));
    try {
      return new EnvoyStandin(await rig.startHelper('pod', PROXY_UID, STANDIN_PY, args), dir);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Its stderr so far: one line per connection / HTTP request (chain, route, outcome). */
  get log(): string {
    return this.stderr;
  }

  /** Replaces the hosts file; takes effect at the next lookup (no reload needed). */
  setHosts(hosts: Hosts): void {
    writeReadable(EnvoyStandin.files(this.dir).hosts, hostsText(hosts));
  }

  /**
   * Writes the new config, sends SIGHUP and waits for "reloaded <version>" or "reload failed: …"
   * (then the old config stays in force). New connections use the new config.
   */
  async reload(config: ProxyConfig, timeoutMs = 5000): Promise<ReloadResult> {
    writeReadable(EnvoyStandin.files(this.dir).config, JSON.stringify(config, null, 2));
    const mark = this.stdout.length;
    this.child.kill('SIGHUP');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:reloaded (.*)|reload failed: (.*))$/m.exec(this.stdout.slice(mark));
      if (m) return m[1] !== undefined ? { ok: true, version: m[1] } : { ok: false, error: m[2]! };
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`stand-in exited during reload:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`stand-in did not answer SIGHUP within ${timeoutMs} ms:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Validates a config with the stand-in's strict parser (no sockets, no namespace, any user). */
export async function checkProxyConfig(config: ProxyConfig | unknown): Promise<CheckResult> {
  const dir = mkdtempSync(join(tmpdir(), 'mg-envoy-check-'));
  try {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(config));
    const r = await run([PYTHON, '-c', STANDIN_PY, '--config', file, '--hosts', '/dev/null', '--check']);
    if (r.code === 0) return { ok: true, version: r.stdout.trim().replace(/^ok /, '') };
    return { ok: false, error: r.stderr.trim().replace(/^envoy-standin: invalid config: /, '') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
