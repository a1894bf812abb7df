import { Option, type Command } from 'commander';
import type { EgressSwitches } from '../../cluster/egress-switch.js';
import type { Explanation, ExplainRequest } from '../../egress/explain.js';
import { ipFamily } from '../../policy/cidr.js';
import { dns1123SubdomainErrors } from '../../policy/dns-names.js';
import type { Profile } from '../../profile.js';
import { UserError } from '../errors.js';
import { profileFrom } from '../global-options.js';
import type { SettingsOptionValues } from '../settings-options.js';
import { connectOrFail } from './namespace.js';
import { addStateOptions, compileFor, loadMeshState, parseServiceAccount, type StateOptions } from './proxy.js';

const KUBECONFIG_HELP = 'path of the kubeconfig (default: KUBECONFIG, ~/.kube/config, then in-cluster credentials)';

interface EgressOptions {
  kubeconfig?: string;
  policy?: string;
}

function policyFlag(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new UserError(`--policy: unknown value "${value}": use "on" or "off"`);
}

const show = (v: boolean | undefined) => (v === undefined ? 'unset (false)' : String(v));

// Loaded only when an egress command runs (it pulls in @kubernetes/client-node).
const egressSwitch = () => import('../../cluster/egress-switch.js');

function statusLines(profile: Profile, s: EgressSwitches, { describeSwitches, meshConfigName }: Awaited<ReturnType<typeof egressSwitch>>): string {
  return (
    [
      `MeshConfig:          ${meshConfigName(profile)}`,
      `enableEgress:        ${show(s.enableEgress)}   (spec.traffic.enableEgress)`,
      `enableEgressPolicy:  ${show(s.enableEgressPolicy)}   (spec.featureFlags.enableEgressPolicy)`,
      `Effect:              ${describeSwitches(s)}`,
    ].join('\n') + '\n'
  );
}

async function withMeshConfigErrors<T>(run: () => Promise<T>): Promise<T> {
  const { MeshConfigError } = await egressSwitch();
  try {
    return await run();
  } catch (err) {
    if (err instanceof MeshConfigError) throw new UserError(err.message, 1);
    throw err;
  }
}

interface CheckOptions extends StateOptions, SettingsOptionValues {
  from?: string;
  to?: string;
  method?: string;
  header: string[];
  ip?: string;
  output: 'text' | 'json';
}

const SCHEMES = ['http', 'https', 'tcp'] as const;
const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443 };
// RFC 9110 token: what a method or a header name may be made of.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const URL_FIX = 'use http://HOST[:PORT]/PATH, https://HOST[:PORT] or tcp://HOST-OR-IP:PORT';

/** `--to URL` → what the app dials: scheme, DNS name or IP, port, path. */
export function parseTarget(to: string): Pick<ExplainRequest, 'scheme' | 'host' | 'ip' | 'port' | 'path'> {
  const bad = (why: string) => new UserError(`--to ${JSON.stringify(to)}: ${why}`);
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(to);
  if (!m) throw bad(`not a URL: ${URL_FIX}`);
  const scheme = m[1]!.toLowerCase();
  if (!(SCHEMES as readonly string[]).includes(scheme)) throw bad(`unknown scheme "${m[1]}": ${URL_FIX}`);
  let url: URL;
  try {
    url = new URL(to);
  } catch {
    throw bad(`malformed URL: ${URL_FIX}`);
  }
  // WHATWG leaves the host of a non-special scheme (tcp://) as written.
  let hostname = url.hostname.toLowerCase();
  if (!hostname) throw bad(`no host: ${URL_FIX}`);
  if (hostname.startsWith('[') && hostname.endsWith(']')) hostname = hostname.slice(1, -1);
  let port: number;
  if (url.port === '') {
    const d = DEFAULT_PORTS[scheme];
    if (d === undefined) throw bad('tcp:// needs a port, e.g. tcp://db.example.com:5432');
    port = d;
  } else port = Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('the port must be 1-65535');
  if (scheme === 'tcp' && url.pathname !== '' && url.pathname !== '/') throw bad('a tcp:// URL has no path: use tcp://HOST-OR-IP:PORT');
  const isIp = ipFamily(hostname) !== undefined;
  if (!isIp) {
    const err = dns1123SubdomainErrors(hostname)[0];
    if (err) throw bad(`host ${JSON.stringify(hostname)} is neither an IP address nor a DNS name: ${err}`);
  }
  return {
    scheme: scheme as ExplainRequest['scheme'],
    ...(isIp ? { ip: hostname } : { host: hostname }),
    port,
    ...(scheme === 'http' ? { path: `${url.pathname || '/'}${url.search}` } : {}),
  };
}

function parseHeaders(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const colon = v.indexOf(':');
    const name = colon < 0 ? '' : v.slice(0, colon).trim();
    if (colon < 0 || !TOKEN.test(name)) throw new UserError(`--header ${JSON.stringify(v)}: use NAME:VALUE, e.g. --header x-team:payments`);
    // As curl sends it: leading and trailing blanks of the value are not part of it.
    out[name.toLowerCase()] = v.slice(colon + 1).trim();
  }
  return out;
}

/** The check's request from the flags; every problem is a one-line usage error (exit 2). */
export function checkRequest(opts: CheckOptions): ExplainRequest {
  if (!opts.to) throw new UserError(`egress check: give the destination with --to URL (${URL_FIX})`);
  const target = parseTarget(opts.to);
  const request: ExplainRequest = { ...target };
  if (opts.ip !== undefined) {
    const family = ipFamily(opts.ip.trim());
    if (!family) throw new UserError(`--ip ${JSON.stringify(opts.ip)}: not an IP address: give the address the name resolves to, e.g. --ip 203.0.113.10`);
    const ip = opts.ip.trim().toLowerCase();
    if (target.ip !== undefined && target.ip !== ip) throw new UserError(`--ip ${ip}: the URL already dials ${target.ip}: drop --ip or put the name in --to`);
    request.ip = ip;
  }
  if (opts.method !== undefined) {
    if (!TOKEN.test(opts.method)) throw new UserError(`--method ${JSON.stringify(opts.method)}: not an HTTP method: use e.g. GET, POST`);
    request.method = opts.method;
  }
  if (opts.header.length > 0) request.headers = parseHeaders(opts.header);
  if (target.scheme !== 'http' && (opts.method !== undefined || opts.header.length > 0)) {
    process.stderr.write(`Warning: --method and --header do not matter for ${target.scheme}:// (the proxy does not see inside the connection)\n`);
  }
  return request;
}

/** The steps the connection took, for the second line of the text form. */
function pathLine(e: Explanation): string | undefined {
  const steps = [
    e.listener && `listener ${e.listener}`,
    e.chain && `filter chain ${e.chain}`,
    e.virtualHost && `virtual host ${e.virtualHost}`,
    e.route && `route ${e.route}`,
    e.cluster && `cluster ${e.cluster}`,
    e.upstream,
  ].filter((s): s is string => !!s);
  return steps.length > 1 ? `  via ${steps.join(' -> ')}` : undefined;
}

export function register(program: Command): void {
  const egress = program
    .command('egress')
    .description("switch mesh-wide egress passthrough (the MeshConfig's spec.traffic.enableEgress) and Egress policies");

  const change = (enable: boolean) => async (opts: EgressOptions, cmd: Command) => {
    const profile = profileFrom(cmd);
    const policy = policyFlag(opts.policy);
    const api = await connectOrFail(opts.kubeconfig);
    const { setEgressSwitches, describeSwitches, meshConfigName } = await egressSwitch();
    const after = await withMeshConfigErrors(() =>
      setEgressSwitches(api, profile, { enableEgress: enable, ...(policy !== undefined ? { enableEgressPolicy: policy } : {}) }),
    );
    const parts = [`egress passthrough ${enable ? 'enabled' : 'disabled'}`];
    if (policy !== undefined) parts.push(`Egress policies turned ${policy ? 'on' : 'off'}`);
    process.stdout.write(`MeshConfig [${meshConfigName(profile)}]: ${parts.join(', ')}\n${describeSwitches(after)}\n`);
  };

  egress
    .command('enable')
    .description('set spec.traffic.enableEgress: true — pods in the mesh may reach any external destination')
    .option('--policy <on|off>', 'also set spec.featureFlags.enableEgressPolicy')
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .addHelpText('after', "\nSame as: kubectl patch meshconfig osm-mesh-config -n osm-system -p '{\"spec\":{\"traffic\":{\"enableEgress\":true}}}' --type=merge")
    .action(change(true));

  egress
    .command('disable')
    .description('set spec.traffic.enableEgress: false — external destinations only through Egress policies')
    .option('--policy <on|off>', 'also set spec.featureFlags.enableEgressPolicy')
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .addHelpText('after', "\nSame as: kubectl patch meshconfig osm-mesh-config -n osm-system -p '{\"spec\":{\"traffic\":{\"enableEgress\":false}}}' --type=merge")
    .action(change(false));

  egress
    .command('status')
    .description('print spec.traffic.enableEgress and spec.featureFlags.enableEgressPolicy and what they mean together')
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .action(async (opts: EgressOptions, cmd: Command) => {
      const profile = profileFrom(cmd);
      const api = await connectOrFail(opts.kubeconfig);
      const mod = await egressSwitch();
      const s = await withMeshConfigErrors(() => mod.readEgressSwitches(api, profile));
      process.stdout.write(statusLines(profile, s, mod));
    });

  const collect = (value: string, previous: string[]) => [...previous, value];
  addStateOptions(
    egress
      .command('check')
      .summary("say what a ServiceAccount's sidecar would do with one request")
      .description(
        [
          "Says what the egress sidecar of a ServiceAccount would do with one request: it compiles that ServiceAccount's " +
            'proxy config (as `meshgate proxy config` prints it) and follows it as Envoy does — listener, filter chain, ' +
            'virtual host, route, cluster — naming the Egress policy that allows the request, or why nothing does.',
          'URLs: http://HOST[:PORT]/PATH (Host header = HOST[:PORT]), https://HOST[:PORT] (TLS with SNI = HOST) and ' +
            'tcp://HOST-OR-IP:PORT (plain TCP, a client that sends nothing the proxy recognises).',
          'Exit status: 0 allowed, 1 not allowed (refused, reset, 404 or 403), 2 bad input or state that cannot be read.',
        ].join('\n\n'),
      )
      .requiredOption('--from <NS/SA>', 'the ServiceAccount whose pods send the request, e.g. curl/curl')
      .requiredOption('--to <URL>', 'http://..., https://... or tcp://host-or-ip:port')
      .option('--method <M>', 'HTTP method (default GET)')
      .option('--header <K:V>', 'HTTP request header; repeatable', collect, [])
      .option('--ip <ADDR>', 'the IP address the destination name resolves to (decides policies with ipAddresses)')
      .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text')),
  )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  meshgate egress check --from curl/curl --to http://httpbin.org/get --state DIR\n' +
        '  meshgate egress check --from curl/curl --to https://httpbin.org -o json\n' +
        '  meshgate egress check --from curl/curl --to tcp://db.example.com:5432 --ip 10.1.2.3\n',
    )
    .action(async (opts: CheckOptions, cmd: Command) => {
      const profile = profileFrom(cmd);
      const account = parseServiceAccount('--from', opts.from ?? '');
      const request = { ...checkRequest(opts), from: `${account.namespace}/${account.name}` };
      const { settingsFrom } = await import('../settings-options.js');
      const settings = settingsFrom(opts);
      const state = await loadMeshState(profile, opts);
      const config = await compileFor(account, state, settings);
      const { explainRequest } = await import('../../egress/explain.js');
      const e = explainRequest(config, request);
      // Decided before printing, so a reader that stops early does not change it.
      process.exitCode = e.allowed ? 0 : 1;
      if (opts.output === 'json') {
        process.stdout.write(`${JSON.stringify({ allowed: e.allowed, outcome: e.outcome, policy: e.policy ?? null, reason: e.reason }, null, 2)}\n`);
      } else {
        const via = pathLine(e);
        process.stdout.write(`${e.reason}\n${via ? `${via}\n` : ''}`);
      }
    });
}
