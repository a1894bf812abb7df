/**
 * A two-namespace test rig for the interception script: a "pod" network namespace (where the
 * script, the stand-in proxy and the app clients run) and an "external" one (listeners that answer
 * with their identity), joined by two veth pairs. Every address lives only inside these namespaces.
 *
 *   pod ns                                      ext ns
 *   veth0 198.51.100.2/25  fd00:6d67::2/64  <-> veth1 198.51.100.1/25  fd00:6d67::1/64   (default route)
 *   side0 198.51.100.130/25 fd00:6d67:1::2/64 <-> side1 198.51.100.129/25 fd00:6d67:1::1/64 (SIDE_HOST only)
 *   lo: 127.0.0.1, ::1 (pod-loopback listener)   lo: the destination addresses in ADDR
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = (name: string) => readFileSync(join(here, name), 'utf8');
const LISTENER_PY = source('listener.py');
const PROXY_PY = source('proxy.py');
const CLIENT_PY = source('client.py');

/** Debian's system python: readable and executable by the test UIDs (a pyenv shim under /root is not). */
export const PYTHON = '/usr/bin/python3';
export const APP_UID = 1000;
export const PROXY_UID = 1500;
export const PROXY_PORT = 15001;
/** Ports the external listener answers on. */
export const EXT_PORTS = [80, 443, 8080] as const;
export const LOOPBACK_PORT = 8081;

/** Destinations on the external namespace's loopback; CIDRs are what the tests configure. */
export const ADDR = {
  v4: {
    external: '203.0.113.10',
    sideHost: '203.0.113.20',
    cluster: '192.0.2.10',
    clusterCIDR: '192.0.2.0/26',
    excluded: '192.0.2.70',
    excludedCIDR: '192.0.2.64/26',
    included: '192.0.2.130',
    includedCIDR: '192.0.2.128/26',
  },
  v6: {
    external: '2001:db8:e::10',
    sideHost: '2001:db8:e::20',
    cluster: '2001:db8:1::10',
    clusterCIDR: '2001:db8:1::/64',
    excluded: '2001:db8:2::10',
    excludedCIDR: '2001:db8:2::/64',
    included: '2001:db8:3::10',
    includedCIDR: '2001:db8:3::/64',
  },
} as const;
// Fixed link addresses and static neighbours: no ARP/NDP round trips (the first IPv6 SYN after
// neighbour discovery on a fresh veth otherwise waits for a ~1 s retransmit).
const MAC = { veth0: '02:6d:67:00:00:02', veth1: '02:6d:67:00:00:01', side0: '02:6d:67:00:01:02', side1: '02:6d:67:00:01:01' };

/** The pod's own addresses (on veth0); the pod-loopback listener also answers there. */
export const POD_IP = { v4: '198.51.100.2', v6: 'fd00:6d67::2' } as const;

/** The pod-side interface that reaches SIDE_HOST: used as the excluded interface. */
export const SIDE_INTERFACE = 'side0';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type ConnectResult = { ok: true; reply: string } | { ok: false; error: string };

export function assertRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('test/netns needs root (network namespaces and iptables): run it as root, as CI does');
  }
  if (!existsSync(PYTHON)) throw new Error(`test/netns needs ${PYTHON} (Debian python3)`);
}

/** Runs a command with a hard time limit; never rejects on a non-zero exit. */
export function run(argv: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(
      argv[0]!,
      argv.slice(1),
      { timeout: opts.timeoutMs ?? 10_000, killSignal: 'SIGKILL', env: opts.env ?? process.env, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(new Error(`${argv.join(' ')}: ${err.message}\n${stderr}`));
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}

async function must(argv: string[], input?: string): Promise<string> {
  const r = input === undefined ? await run(argv) : await runWithInput(argv, input);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

function runWithInput(argv: string[], input: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), { timeout: 10_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
    child.stdin!.end(input);
  });
}

let counter = 0;

export class NetnsRig {
  readonly podNs: string;
  readonly extNs: string;
  private readonly children = new Set<ChildProcess>();
  private proxy: ChildProcess | undefined;

  private constructor() {
    counter += 1;
    this.podNs = `mg-pod-${process.pid}-${counter}`;
    this.extNs = `mg-ext-${process.pid}-${counter}`;
  }

  /**
   * Builds both namespaces, the links, the external listener and the pod's loopback listener.
   * `extPorts` (default EXT_PORTS) are the ports the external identity listener takes, so a test
   * can run its own servers on the others.
   */
  static async create(opts: { ipv6?: boolean; extPorts?: readonly number[] } = {}): Promise<NetnsRig> {
    const rig = new NetnsRig();
    try {
      await rig.build(opts.ipv6 ?? true, opts.extPorts ?? EXT_PORTS);
    } catch (err) {
      await rig.destroy();
      throw err;
    }
    return rig;
  }

  private async build(ipv6: boolean, extPorts: readonly number[]): Promise<void> {
    const { podNs: pod, extNs: ext } = this;
    await must(['ip', 'netns', 'add', pod]);
    await must(['ip', 'netns', 'add', ext]);
    if (!ipv6) {
      // A pod without IPv6: the kernel lists no IPv6 address in /proc/net/if_inet6.
      await must(['ip', 'netns', 'exec', pod, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    const podLinks = [
      'link set lo up',
      `link add veth0 address ${MAC.veth0} type veth peer name veth1 address ${MAC.veth1} netns ${ext}`,
      `link add ${SIDE_INTERFACE} address ${MAC.side0} type veth peer name side1 address ${MAC.side1} netns ${ext}`,
      `addr add ${POD_IP.v4}/25 dev veth0`,
      `addr add 198.51.100.130/25 dev ${SIDE_INTERFACE}`,
      ...(ipv6 ? [`addr add ${POD_IP.v6}/64 dev veth0 nodad`, `addr add fd00:6d67:1::2/64 dev ${SIDE_INTERFACE} nodad`] : []),
      'link set veth0 up',
      `link set ${SIDE_INTERFACE} up`,
    ];
    await must(['ip', '-n', pod, '-batch', '-'], podLinks.join('\n') + '\n');
    const v4 = ADDR.v4;
    const v6 = ADDR.v6;
    const extSetup = [
      'link set lo up',
      'addr add 198.51.100.1/25 dev veth1',
      'addr add 198.51.100.129/25 dev side1',
      'addr add fd00:6d67::1/64 dev veth1 nodad',
      'addr add fd00:6d67:1::1/64 dev side1 nodad',
      'link set veth1 up',
      'link set side1 up',
      `neigh replace 198.51.100.2 lladdr ${MAC.veth0} dev veth1 nud permanent`,
      `neigh replace 198.51.100.130 lladdr ${MAC.side0} dev side1 nud permanent`,
      `neigh replace fd00:6d67::2 lladdr ${MAC.veth0} dev veth1 nud permanent`,
      `neigh replace fd00:6d67:1::2 lladdr ${MAC.side0} dev side1 nud permanent`,
      ...[v4.external, v4.sideHost, v4.cluster, v4.excluded, v4.included].map((a) => `addr add ${a}/32 dev lo`),
      ...[v6.external, v6.sideHost, v6.cluster, v6.excluded, v6.included].map((a) => `addr add ${a}/128 dev lo`),
    ];
    await must(['ip', '-n', ext, '-batch', '-'], extSetup.join('\n') + '\n');
    const podRoutes = [
      `neigh replace 198.51.100.1 lladdr ${MAC.veth1} dev veth0 nud permanent`,
      `neigh replace 198.51.100.129 lladdr ${MAC.side1} dev ${SIDE_INTERFACE} nud permanent`,
      ...(ipv6
        ? [
            `neigh replace fd00:6d67::1 lladdr ${MAC.veth1} dev veth0 nud permanent`,
            `neigh replace fd00:6d67:1::1 lladdr ${MAC.side1} dev ${SIDE_INTERFACE} nud permanent`,
          ]
        : []),
      'route add default via 198.51.100.1 dev veth0',
      `route add ${v4.sideHost}/32 via 198.51.100.129 dev ${SIDE_INTERFACE}`,
      ...(ipv6
        ? ['route add default via fd00:6d67::1 dev veth0', `route add ${v6.sideHost}/128 via fd00:6d67:1::1 dev ${SIDE_INTERFACE}`]
        : []),
    ];
    await must(['ip', '-n', pod, '-batch', '-'], podRoutes.join('\n') + '\n');

    const extBinds = extPorts.flatMap((p) => [`0.0.0.0:${p}`, `[::]:${p}`]);
    await this.startPython(ext, 0, LISTENER_PY, ['ext', ...extBinds]);
    const loopBinds = [`127.0.0.1:${LOOPBACK_PORT}`, `${POD_IP.v4}:${LOOPBACK_PORT}`, ...(ipv6 ? [`[::1]:${LOOPBACK_PORT}`, `[${POD_IP.v6}]:${LOOPBACK_PORT}`] : [])];
    await this.startPython(pod, 0, LISTENER_PY, ['pod-loopback', ...loopBinds]);
  }

  /** Starts a long-running python helper in a namespace as a UID and waits for its "ready" line. */
  private startPython(ns: string, uid: number, src: string, args: string[], readyTimeoutMs = 5000): Promise<ChildProcess> {
    const child = spawn('ip', ['netns', 'exec', ns, ...asUid(uid), PYTHON, '-c', src, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => fail(new Error(`helper in ${ns} not ready within ${readyTimeoutMs} ms: ${err}`)), readyTimeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(e);
      };
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready\n')) {
          clearTimeout(timer);
          resolve(child);
        }
      });
      child.on('exit', (code) => fail(new Error(`helper in ${ns} exited ${code} before ready: ${err}`)));
    });
  }

  /**
   * Starts a long-running python helper (source text) in the pod or external namespace as `uid`,
   * waits for its "ready" line on stdout, and kills it in destroy(). Rejects with its stderr if it
   * exits first or is not ready in time.
   */
  startHelper(where: 'pod' | 'ext', uid: number, src: string, args: string[], readyTimeoutMs = 5000): Promise<ChildProcess> {
    return this.startPython(where === 'pod' ? this.podNs : this.extNs, uid, src, args, readyTimeoutMs);
  }

  /**
   * Runs a script verbatim with /bin/sh inside the pod namespace, as the init container does: the
   * host's shell and iptables, or with `rootfs` those of an image's root filesystem (chroot, with
   * the host's /proc bound in a mount namespace of the exec's own, as a container runtime mounts it).
   */
  runScript(script: string, opts: { path?: string; rootfs?: string } = {}): Promise<ExecResult> {
    if (opts.rootfs === undefined) return this.runCommand(['/bin/sh', '-c', script], opts);
    // `ip netns exec` gives the command a mount namespace of its own: the bind goes with it
    const enter = 'mount --rbind /proc "$1/proc" && exec chroot "$1" /bin/sh -c "$2"';
    return this.runCommand(['/bin/sh', '-c', enter, 'enter', opts.rootfs, script], opts);
  }

  /** Runs an init container's command (argv) as root in the pod namespace; `path` replaces PATH. */
  runCommand(argv: string[], opts: { path?: string } = {}): Promise<ExecResult> {
    const env = opts.path === undefined ? [] : ['/usr/bin/env', `PATH=${opts.path}`];
    return run(['ip', 'netns', 'exec', this.podNs, ...env, ...argv], { timeoutMs: 20_000 });
  }

  /** The stand-in proxy on 15001, running as the proxy UID. */
  async startProxy(): Promise<void> {
    if (this.proxy) return;
    this.proxy = await this.startPython(this.podNs, PROXY_UID, PROXY_PY, [String(PROXY_PORT)]);
  }

  async stopProxy(): Promise<void> {
    const proxy = this.proxy;
    this.proxy = undefined;
    if (proxy) await kill(proxy);
  }

  /** One TCP connection from the pod namespace as `uid` (bounded: 2 s connect and read). */
  async connect(host: string, port: number, uid: number = APP_UID): Promise<ConnectResult> {
    const r = await run(['ip', 'netns', 'exec', this.podNs, ...asUid(uid), PYTHON, '-c', CLIENT_PY, host, String(port), '2'], {
      timeoutMs: 8000,
    });
    if (r.code !== 0) throw new Error(`client exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as ConnectResult;
  }

  /** Any command inside the pod namespace (e.g. iptables-nft-save, curl). */
  exec(argv: string[], uid = 0, timeoutMs = 10_000): Promise<ExecResult> {
    return run(['ip', 'netns', 'exec', this.podNs, ...asUid(uid), ...argv], { timeoutMs });
  }

  /** Kills every helper process and deletes both namespaces; safe to call twice. */
  async destroy(): Promise<void> {
    await Promise.all([...this.children].map(kill));
    this.proxy = undefined;
    for (const ns of [this.podNs, this.extNs]) await run(['ip', 'netns', 'del', ns]).catch(() => undefined);
  }
}

function asUid(uid: number): string[] {
  return uid === 0 ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Counts rule lines (`-A ...`) in a save dump, optionally only those of one chain. */
export function countRules(save: string, chain?: string): number {
  return save.split('\n').filter((l) => l.startsWith(chain ? `-A ${chain} ` : '-A ')).length;
}
