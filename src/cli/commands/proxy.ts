import { Option, type Command } from 'commander';
import type { ProxyConfig } from '../../egress/proxy-config.js';
import { toMultiDocumentYaml } from '../../manifests/yaml-output.js';
import type { KubeObject } from '../../manifests/types.js';
import { dns1123LabelErrors, dns1123SubdomainErrors } from '../../policy/dns-names.js';
import { WEBHOOK_PORT, type Profile } from '../../profile.js';
import type { MeshgateSettings } from '../../settings.js';
import type { ClusterStateSource } from '../../cluster/informer-state.js';
import type { MeshState } from '../../state/mesh-state.js';
import { PROXY_STATUS_PATH, type ProxyStatusReport } from '../../xds/proxy-status.js';
import { UserError } from '../errors.js';
import { profileFrom } from '../global-options.js';
import { SETTINGS_FLAGS, settingsFrom, type SettingsOptionValues } from '../settings-options.js';

const KUBECONFIG_HELP = 'kubeconfig for live cluster state (default: KUBECONFIG, ~/.kube/config, then in-cluster credentials)';
const STATE_HELP = 'read cluster state from YAML files in DIR (Namespaces, MeshConfig, HTTPRouteGroups, Egresses, ...) instead of the API server';
/** How long a one-shot command waits for the informers' first list of the live cluster. */
const LIVE_SYNC_TIMEOUT_MS = 30_000;

export interface StateOptions {
  state?: string;
  kubeconfig?: string;
}

/**
 * `--state DIR | --kubeconfig FILE`, the same sources `meshgate serve` reads, and the one server
 * setting the compiler reads (the cluster CIDRs decide IPv6), with the server's variable.
 */
export function addStateOptions(cmd: Command): Command {
  const f = SETTINGS_FLAGS.clusterCidrs;
  return cmd
    .option('--state <DIR>', STATE_HELP)
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .addOption(new Option(`${f.flag} <cidrs>`, 'in-cluster pod and service CIDRs, as given to meshgate serve').env(f.env));
}

/**
 * The MeshState once, from a --state directory (DirStateSource) or the live cluster (the serve
 * command's informers, stopped once synced). Anything that keeps it from loading is exit 2: the
 * command cannot answer.
 */
export async function loadMeshState(profile: Profile, opts: StateOptions): Promise<MeshState> {
  if (opts.state) {
    const { DirStateSource } = await import('../../cluster/state-dir.js');
    const source = new DirStateSource(profile, opts.state);
    try {
      await source.start();
    } catch (err) {
      throw new UserError(`--state ${opts.state}: ${oneLine(err)}: give a directory (or file) of YAML objects, e.g. --state examples/state`);
    }
    return source.state;
  }
  const { pino } = await import('pino');
  const { createClusterStateSource } = await import('../../cluster/informer-state.js');
  let live: ClusterStateSource;
  try {
    live = createClusterStateSource({ profile, logger: pino({ level: 'silent' }), ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}) });
  } catch (err) {
    throw new UserError(`cluster state: ${oneLine(err)}: pass --state DIR to work offline, or --kubeconfig FILE`);
  }
  await live.start();
  try {
    const deadline = Date.now() + LIVE_SYNC_TIMEOUT_MS;
    while (!live.ready()) {
      // A one-shot command fails on the first failed list, as kubectl does, instead of retrying as the server does.
      const failing = live.informers().find((i) => i.phase === 'failing');
      if (failing) {
        const why = (failing.reason ?? failing.resource).replace(/; retrying in \d+s$/, '');
        throw new UserError(`cluster state: ${why}: check that KUBECONFIG or --kubeconfig points at a reachable cluster you may read, or pass --state DIR`);
      }
      if (Date.now() > deadline) {
        throw new UserError(`cluster state: not synced after ${LIVE_SYNC_TIMEOUT_MS / 1000}s: ${live.notReadyReasons().join('; ')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return live.state;
  } finally {
    await live.stop();
  }
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

/** `NS/NAME` of a ServiceAccount, checked as the API server names them. */
export function parseServiceAccount(flag: string, value: string): { namespace: string; name: string } {
  const parts = value.split('/');
  const fix = `give the ServiceAccount as NAMESPACE/NAME, e.g. ${flag} curl/curl`;
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new UserError(`${flag} ${JSON.stringify(value)}: ${fix}`);
  const [namespace, name] = parts as [string, string];
  const nsErr = dns1123LabelErrors(namespace)[0];
  if (nsErr) throw new UserError(`${flag} ${JSON.stringify(value)}: namespace ${JSON.stringify(namespace)} is invalid: ${nsErr}`);
  const nameErr = dns1123SubdomainErrors(name)[0];
  if (nameErr) throw new UserError(`${flag} ${JSON.stringify(value)}: ServiceAccount name ${JSON.stringify(name)} is invalid: ${nameErr}`);
  return { namespace, name };
}

/** Compiles one ServiceAccount's config, printing the compiler's warnings on stderr. */
export async function compileFor(account: { namespace: string; name: string }, state: MeshState, settings: MeshgateSettings): Promise<ProxyConfig> {
  // Loaded here so the CLI starts even while the compiler module is absent from a build.
  const { compileProxyConfig } = await import('../../egress/compile.js');
  const { config, warnings } = compileProxyConfig(account, state, settings);
  for (const w of new Set(warnings)) process.stderr.write(`Warning: ${w}\n`);
  return config;
}

interface ProxyConfigOptions extends StateOptions, SettingsOptionValues {
  for?: string;
  output: 'json' | 'yaml';
}

export function register(program: Command): void {
  const proxy = program.command('proxy').description('what the egress sidecars are told');

  addStateOptions(
    proxy
      .command('config')
      .description(
        "Prints the Envoy v3 resources meshgate's compiler produces for one ServiceAccount: the outbound listener, its route " +
          'configurations and clusters, each proto3-JSON with its @type, and the version (a hash of the content) that the ADS ' +
          'server sends to every sidecar of that ServiceAccount.',
      )
      .requiredOption('--for <NS/SA>', 'the ServiceAccount, e.g. curl/curl')
      .addOption(new Option('-o, --output <format>', 'output format').choices(['json', 'yaml']).default('json')),
  )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  meshgate proxy config --for curl/curl --state examples/state\n' +
        '  meshgate proxy config --for curl/curl -o yaml            # live cluster (KUBECONFIG)\n',
    )
    .action(async (opts: ProxyConfigOptions, cmd: Command) => {
      const profile = profileFrom(cmd);
      const account = parseServiceAccount('--for', opts.for ?? '');
      const settings = settingsFrom(opts);
      const state = await loadMeshState(profile, opts);
      const config = await compileFor(account, state, settings);
      if (opts.output === 'yaml') process.stdout.write(toMultiDocumentYaml([config as unknown as KubeObject]));
      else process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    });

  proxy
    .command('status')
    .description(
      "Lists the proxies connected to a running meshgate serve over ADS (its /debug/proxies endpoint): node, ServiceAccount, " +
        'connected since, the version acknowledged per type (LDS, RDS, CDS) and the last rejection Envoy reported. Without --url ' +
        "it asks through the API server's service proxy (the meshgate Service in the control namespace), with the kubeconfig's " +
        'credentials: that needs RBAC `get` on `services/proxy` in the control namespace for you (not for meshgate).',
    )
    .option('--url <https://HOST:PORT>', `a meshgate serve to ask directly, e.g. https://127.0.0.1:${WEBHOOK_PORT} (default: through the API server)`)
    .option('--cacert <file>', "with --url: PEM CA that signed meshgate's serving certificate (e.g. .dev-certs/ca.crt)")
    .option('--kubeconfig <file>', 'kubeconfig of the cluster meshgate serves (default: KUBECONFIG, ~/.kube/config, then in-cluster credentials)')
    .addOption(new Option('--service-name <name>', "meshgate's Service in the control namespace, as given to meshgate serve").env('MESHGATE_SERVICE_NAME').default(SERVICE_NAME))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  meshgate proxy status                                    # through the API server (KUBECONFIG); needs get services/proxy\n' +
        '  meshgate proxy status --kubeconfig ~/.kube/prod -o json\n' +
        `  meshgate proxy status --url https://127.0.0.1:${WEBHOOK_PORT} --cacert .dev-certs/ca.crt\n` +
        `  kubectl -n osm-system port-forward svc/meshgate ${WEBHOOK_PORT}:443 & meshgate proxy status --url https://127.0.0.1:${WEBHOOK_PORT} --cacert ca.crt\n`,
    )
    .action(async (opts: ProxyStatusOptions, cmd: Command) => {
      let report: ProxyStatusReport;
      if (opts.url !== undefined) {
        if (opts.kubeconfig !== undefined) throw new UserError('--url and --kubeconfig: give one: --url asks meshgate serve directly, --kubeconfig through the API server');
        report = await fetchProxyStatus(opts.url, opts.cacert);
      } else {
        if (opts.cacert !== undefined) throw new UserError('--cacert goes with --url: through the API server (the default) the kubeconfig\'s CA is used');
        report = await fetchProxyStatusViaApiServer(profileFrom(cmd).controlNamespace, opts.serviceName, opts.kubeconfig);
      }
      if (opts.output === 'json') process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else process.stdout.write(renderProxyStatus(report));
    });
}

interface ProxyStatusOptions {
  url?: string;
  cacert?: string;
  kubeconfig?: string;
  serviceName: string;
  output: 'text' | 'json';
}

/** serve's --service-name default (commands/serve.ts WEBHOOK_SERVICE_NAME; not imported, to keep this command light). */
const SERVICE_NAME = 'meshgate';
/** The Service's https-webhook port (manifests/workload.ts), which targets the serving port 9443. */
const SERVICE_PORT = 443;

/**
 * `GET /debug/proxies` of a serving instance through kube-apiserver's service proxy:
 * `/api/v1/namespaces/NS/services/https:NAME:443/proxy/debug/proxies` (scheme:name:port, the port
 * being the Service's, not the target's), with the kubeconfig's credentials. Errors of the API
 * server (a Status) are exit 2 with the fix; the instance's own answers are judged as with --url.
 */
async function fetchProxyStatusViaApiServer(namespace: string, serviceName: string, kubeconfig: string | undefined): Promise<ProxyStatusReport> {
  const { loadKubeConfig, serverOf } = await import('../../cluster/kube-config.js');
  let kc: import('@kubernetes/client-node').KubeConfig;
  try {
    kc = loadKubeConfig(kubeconfig);
  } catch (err) {
    throw new UserError(`proxy status: ${oneLine(err)}: or pass --url https://HOST:PORT of meshgate serve`);
  }
  const server = serverOf(kc);
  const service = `${namespace}/${serviceName}`;
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/https:${encodeURIComponent(serviceName)}:${SERVICE_PORT}/proxy${PROXY_STATUS_PATH}`;
  let target: URL;
  try {
    target = new URL(server.replace(/\/+$/, '') + path);
  } catch {
    throw new UserError(`kubeconfig server ${JSON.stringify(server)} is not a URL: fix the cluster's server in the kubeconfig`);
  }
  const https = await import('node:https');
  const options: import('node:https').RequestOptions = { method: 'GET', timeout: 10_000, headers: { Accept: 'application/json' } };
  try {
    await kc.applyToHTTPSOptions(options);
  } catch (err) {
    throw new UserError(`proxy status: kubeconfig credentials: ${oneLine(err)}`);
  }
  const { status, body } = await httpsGet(https, target, options).catch((err: unknown) => {
    throw new UserError(`API server ${server} unreachable: ${oneLine(err)}: check that KUBECONFIG or --kubeconfig points at a reachable cluster, or pass --url`);
  });
  const apiStatus = kubeStatusOf(body);
  if (status === 200) {
    try {
      return JSON.parse(body) as ProxyStatusReport;
    } catch {
      throw new UserError(`Service ${service}: the answer to ${PROXY_STATUS_PATH} is not JSON: is this meshgate serve? (--service-name)`, 1);
    }
  }
  if (!apiStatus) {
    // meshgate serve answered (the API server passes its answer through), e.g. 404 when ADS is off.
    throw new UserError(`Service ${service}: ${PROXY_STATUS_PATH}: HTTP ${status}: ${body.trim().split('\n')[0]}`, 1);
  }
  const why = apiStatus.message ?? `HTTP ${status}`;
  switch (status) {
    case 401:
      throw new UserError(`API server ${server}: ${why}: the kubeconfig's credentials were refused; log in again or fix --kubeconfig`);
    case 403:
      throw new UserError(
        `API server ${server}: ${why}: you need RBAC get on services/proxy in namespace ${namespace} ` +
          `(check: kubectl auth can-i get services/proxy -n ${namespace}), or pass --url`,
      );
    case 404:
      throw new UserError(`Service ${service} not found (${why}): is meshgate installed in ${namespace}? (meshgate install; --mesh-namespace, --service-name)`);
    case 503:
      if (/no service port/.test(why)) throw new UserError(`Service ${service}: ${why}: the Service has no port ${SERVICE_PORT}; reinstall meshgate (meshgate install)`);
      if (/error trying to reach service/.test(why)) throw new UserError(`Service ${service}: ${why}: meshgate's pod did not answer; check kubectl -n ${namespace} get pods and its logs`);
      throw new UserError(`Service ${service}: ${why}: no ready meshgate pod behind it; check kubectl -n ${namespace} get pods,endpoints ${serviceName}`);
    default:
      throw new UserError(`API server ${server}: HTTP ${status}: ${why}`);
  }
}

/** The metav1.Status kube-apiserver answers its own errors with (the proxied instance sends none). */
function kubeStatusOf(body: string): { message?: string; reason?: string } | undefined {
  try {
    const o = JSON.parse(body) as { kind?: unknown; apiVersion?: unknown; message?: unknown; reason?: unknown };
    if (o && o.kind === 'Status' && o.apiVersion === 'v1') {
      return { ...(typeof o.message === 'string' ? { message: o.message } : {}), ...(typeof o.reason === 'string' ? { reason: o.reason } : {}) };
    }
  } catch {
    /* not JSON: not the API server's */
  }
  return undefined;
}

async function fetchProxyStatus(url: string, cacert: string | undefined): Promise<ProxyStatusReport> {
  let target: URL;
  try {
    target = new URL(PROXY_STATUS_PATH, url);
  } catch {
    throw new UserError(`--url ${JSON.stringify(url)}: not a URL: give https://HOST:PORT of meshgate serve`);
  }
  if (target.protocol !== 'https:') throw new UserError(`--url ${url}: meshgate serves HTTPS only: give https://HOST:PORT`);
  let ca: string | undefined;
  if (cacert) {
    const { readFileSync } = await import('node:fs');
    try {
      ca = readFileSync(cacert, 'utf8');
    } catch (err) {
      throw new UserError(`--cacert ${cacert}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  const https = await import('node:https');
  const { status, body } = await httpsGet(https, target, { ...(ca ? { ca } : {}), timeout: 10_000 }).catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    const hint = /certificate|self.signed|issuer/i.test(message) ? ': pass --cacert with the CA of its serving certificate' : '';
    throw new UserError(`${target.origin}: ${message}${hint}`, 1);
  });
  if (status !== 200) throw new UserError(`${target.href}: HTTP ${status}: ${body.trim()}`, 1);
  try {
    return JSON.parse(body) as ProxyStatusReport;
  } catch {
    throw new UserError(`${target.href}: the answer is not JSON: is this meshgate serve?`, 1);
  }
}

/** A table, one proxy a line; versions shortened to 8 characters, rejections on their own line. */
export function renderProxyStatus(report: ProxyStatusReport): string {
  if (report.proxies.length === 0) return 'No proxies connected.\n';
  const short = (v: string | undefined) => (v === undefined ? '-' : v.length > 8 ? v.slice(0, 8) : v);
  const rows = [['NODE', 'IDENTITY', 'SINCE', 'LDS', 'RDS', 'CDS', 'REJECTED']];
  for (const p of report.proxies) {
    rows.push([p.node, p.identity, p.since, short(p.types.LDS?.ackedVersion), short(p.types.RDS?.ackedVersion), short(p.types.CDS?.ackedVersion), p.lastRejection ? p.lastRejection.type : '-']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  let out = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
  for (const p of report.proxies) {
    if (p.lastRejection) out += `\n${p.node} (${p.identity}): ${p.lastRejection.type} version ${p.lastRejection.version} rejected at ${p.lastRejection.at}:\n  ${p.lastRejection.message}\n`;
  }
  return out;
}

/** One GET with a 10 s answer limit: the status and the body as text. */
function httpsGet(https: typeof import('node:https'), target: URL, options: import('node:https').RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(target, options, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
  });
}
