import { Option, type Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { pino, type Logger } from 'pino';
import type { CertificateSource } from '../../certs/certificate-source.js';
import { FileCertificateSource } from '../../certs/file-certificate-source.js';
import { serviceDnsNames } from '../../certs/generate.js';
import { DirStateSource } from '../../cluster/state-dir.js';
import { WEBHOOK_PORT, type Profile } from '../../profile.js';
import type { StateSource } from '../../state/mesh-state.js';
import { createWebhookServer, type TlsMaterial, type WebhookServer } from '../../webhook/server.js';
import type { ClusterStateSource } from '../../cluster/informer-state.js';
import { addXdsOptions, startXds, type RunningXds, type XdsOptionValues } from '../../xds/serve-xds.js';
import { UserError } from '../errors.js';
import { ServeShutdown } from '../serve-shutdown.js';
import { profileFrom } from '../global-options.js';
import { addSettingsOptions, settingsFrom, type SettingsOptionValues } from '../settings-options.js';
import type { MeshgateSettings } from '../../settings.js';
import { followXdsCa } from '../xds-ca.js';

/** The Service kube-apiserver calls; the development certificate carries its DNS names too. */
export const WEBHOOK_SERVICE_NAME = 'meshgate';
export const DEV_CERTS_DIR = '.dev-certs';

interface ServeOptions extends SettingsOptionValues, XdsOptionValues {
  port: string;
  host: string;
  state?: string;
  kubeconfig?: string;
  tlsCert?: string;
  tlsKey?: string;
  dev?: boolean;
  certSecret?: string;
  serviceName: string;
  validatingWebhookConfig?: string;
  mutatingWebhookConfig?: string;
  logLevel: string;
  shutdownDelay: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function register(program: Command): void {
  const cmd = program
    .command('serve')
    .description('Run the admission webhook server (validating /validate, mutating /mutate) over HTTPS.')
    .addOption(new Option('--port <port>', 'HTTPS port (0 picks a free one)').env('MESHGATE_PORT').default(String(WEBHOOK_PORT)))
    .addOption(new Option('--host <address>', 'address to listen on').env('MESHGATE_HOST').default('0.0.0.0'))
    .option('--state <dir>', 'read cluster state from YAML files in DIR instead of the API server')
    .option('--kubeconfig <file>', 'kubeconfig for live cluster state (default: KUBECONFIG, ~/.kube/config, in-cluster)')
    .addOption(new Option('--tls-cert <file>', 'PEM serving certificate (reloaded when the file changes)').env('MESHGATE_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'PEM private key of --tls-cert').env('MESHGATE_TLS_KEY'))
    .option('--dev', `generate (or reuse) a development CA and certificate in ${DEV_CERTS_DIR}/`)
    .addOption(
      new Option('--cert-secret <name>', 'in a cluster: keep the CA and serving certificate in this Secret of the control namespace, renew them and publish the caBundle').env(
        'MESHGATE_CERT_SECRET',
      ),
    )
    .addOption(new Option('--service-name <name>', 'the webhook Service (its DNS names go into the serving certificate)').env('MESHGATE_SERVICE_NAME').default(WEBHOOK_SERVICE_NAME))
    .addOption(new Option('--validating-webhook-config <name>', 'with --cert-secret: the ValidatingWebhookConfiguration that gets the caBundle').env('MESHGATE_VALIDATING_WEBHOOK_CONFIG'))
    .addOption(new Option('--mutating-webhook-config <name>', 'with --cert-secret: the MutatingWebhookConfiguration that gets the caBundle').env('MESHGATE_MUTATING_WEBHOOK_CONFIG'))
    .addOption(new Option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')}`).env('MESHGATE_LOG_LEVEL').default('info'))
    .addOption(
      new Option('--shutdown-delay <seconds>', 'on SIGTERM, keep serving this long with readiness false before closing (endpoint propagation)')
        .env('MESHGATE_SHUTDOWN_DELAY')
        .default('0'),
    );
  addSettingsOptions(cmd);
  addXdsOptions(cmd);
  cmd.action(async (options: ServeOptions, command: Command) => {
    await serve(options, profileFrom(command));
  });
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new UserError(`--port: ${JSON.stringify(value)} is not a port: use a number from 0 to 65535`);
  }
  return n;
}

function parseSeconds(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 600) {
    throw new UserError(`${flag}: ${JSON.stringify(value)} is not a duration: use seconds from 0 to 600`);
  }
  return n;
}

function readTlsFiles(certPath: string, keyPath: string): TlsMaterial {
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(certPath, 'utf8');
  } catch (err) {
    throw new UserError(`--tls-cert ${certPath}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    key = readFileSync(keyPath, 'utf8');
  } catch (err) {
    throw new UserError(`--tls-key ${keyPath}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    createSecureContext({ cert, key, minVersion: 'TLSv1.2' });
  } catch (err) {
    throw new UserError(
      `--tls-cert ${certPath} / --tls-key ${keyPath}: not a usable PEM certificate and key pair (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  return { cert, key };
}

interface TlsChoice {
  tls: TlsMaterial;
  /** What the start line says about the certificate. */
  describe: string;
  /** How to get the CA that verifies the served certificate, and a curl to /readyz that uses it. */
  tryHint: (at: { host: string; port: number; url: string }) => string;
  caPath?: string;
  /** Where renewed certificates come from (mounted files, or the Secret the server manages). */
  source?: CertificateSource;
}

/**
 * Test-only and undocumented: `MESHGATE_TEST_CERT_TIMING='{"checkIntervalMs":200,"propagationMs":500,"overlapMs":1500}'`
 * shortens the --cert-secret manager's check interval and CA rotation waits, so the end-to-end tests
 * see a renewal and a CA rotation of the running server in seconds instead of minutes and hours.
 */
export const TEST_CERT_TIMING_ENV = 'MESHGATE_TEST_CERT_TIMING';

function testCertTiming(): { checkIntervalMs?: number; propagationMs?: number; overlapMs?: number } {
  const raw = process.env[TEST_CERT_TIMING_ENV];
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  const keys = ['checkIntervalMs', 'propagationMs', 'overlapMs'] as const;
  const ok =
    typeof parsed === 'object' &&
    parsed !== null &&
    Object.entries(parsed).every(([k, v]) => (keys as readonly string[]).includes(k) && typeof v === 'number' && Number.isFinite(v) && v > 0);
  if (!ok) throw new UserError(`${TEST_CERT_TIMING_ENV}: ${JSON.stringify(raw)} is not a JSON object of positive milliseconds among ${keys.join(', ')}: unset it`);
  return parsed as { checkIntervalMs?: number; propagationMs?: number; overlapMs?: number };
}

/** Quotes a word for a POSIX shell when it needs it. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

async function chooseTls(opts: ServeOptions, profile: Profile, logger: Logger, signal: AbortSignal): Promise<TlsChoice> {
  const modes = [opts.dev && '--dev', (opts.tlsCert || opts.tlsKey) && '--tls-cert/--tls-key', opts.certSecret && '--cert-secret'].filter(Boolean);
  if (modes.length > 1) throw new UserError(`${modes[0]}: use one of --dev, --tls-cert/--tls-key or --cert-secret, not ${modes.join(' and ')}`);
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) {
    throw new UserError(`${opts.tlsCert ? '--tls-key' : '--tls-cert'}: missing: --tls-cert and --tls-key go together`);
  }
  if (opts.tlsCert && opts.tlsKey) {
    const certPath = opts.tlsCert;
    // Fail fast with a precise message; then the file source keeps them fresh (cert-manager renews in place).
    readTlsFiles(certPath, opts.tlsKey);
    const files = new FileCertificateSource({ certFile: certPath, keyFile: opts.tlsKey, logger });
    // cert-manager's Secret carries the issuing CA as ca.crt beside tls.crt (the same file followXdsCa reads).
    const caBeside = join(dirname(certPath), 'ca.crt');
    const tryHint = ({ url }: { url: string }) =>
      existsSync(caBeside) ? `curl --cacert ${shellWord(caBeside)} ${url}` : `curl --cacert CA.crt ${url} (CA.crt: the CA that issued ${certPath})`;
    return { source: files, tls: await files.start(), describe: `certificate: ${certPath}`, tryHint };
  }
  if (opts.certSecret) {
    const [{ CertificateManager }, { kubeCertificateApi }, { loadKubeConfig, withAbortSignal }] = await Promise.all([
      import('../../certs/certificate-manager.js'),
      import('../../certs/kube-certificate-api.js'),
      import('../../cluster/kube-config.js'),
    ]);
    let manager;
    const timing = testCertTiming();
    try {
      manager = new CertificateManager({
        // Cut by a stop during start-up: a Secret read an API server holds does not hold the process.
        api: kubeCertificateApi(withAbortSignal(loadKubeConfig(opts.kubeconfig), signal)),
        ...timing,
        namespace: profile.controlNamespace,
        secretName: opts.certSecret,
        serviceName: opts.serviceName,
        ...(opts.validatingWebhookConfig ? { validatingWebhookConfiguration: opts.validatingWebhookConfig } : {}),
        ...(opts.mutatingWebhookConfig ? { mutatingWebhookConfiguration: opts.mutatingWebhookConfig } : {}),
        logger,
      });
      const tls = await manager.start();
      // The Secret's ca.crt is the CA that signed the served certificate (kubernetes.io/tls layout, certificate-secret.ts).
      const kubectl = ['kubectl', ...(opts.kubeconfig ? ['--kubeconfig', opts.kubeconfig] : []), '-n', profile.controlNamespace, 'get', 'secret', opts.certSecret, '-o', 'jsonpath={.data.ca\\.crt}'];
      // The certificate names the Service only (<service>.<namespace>.svc and its other forms): curl resolves that name to here.
      const dnsName = `${opts.serviceName}.${profile.controlNamespace}.svc`;
      const tryHint = ({ host, port }: { host: string; port: number }) =>
        `${kubectl.map(shellWord).join(' ')} | base64 -d > meshgate-ca.crt && curl --cacert meshgate-ca.crt --resolve ${dnsName}:${port}:${host} https://${dnsName}:${port}/readyz`;
      return { source: manager, tls, describe: `certificate: Secret ${profile.controlNamespace}/${opts.certSecret}`, tryHint };
    } catch (err) {
      manager?.stop();
      throw new UserError(`--cert-secret ${opts.certSecret}: ${err instanceof Error ? err.message : String(err)}`, 1);
    }
  }
  if (opts.dev) {
    const dnsNames = ['localhost', ...serviceDnsNames(opts.serviceName, profile.controlNamespace)];
    // Loaded lazily: certificate generation is only needed with --dev.
    const { ensureDevCertificates } = await import('../../certs/dev-certificates.js');
    const dev = await ensureDevCertificates(DEV_CERTS_DIR, dnsNames);
    return { tls: { cert: dev.cert, key: dev.key }, describe: `CA: ${dev.caPath}`, caPath: dev.caPath, tryHint: ({ url }) => `curl --cacert ${shellWord(dev.caPath)} ${url}` };
  }
  throw new UserError('no TLS certificate: pass --tls-cert/--tls-key, --cert-secret NAME (in a cluster) or --dev (local development)');
}

async function chooseSource(opts: ServeOptions, profile: Profile, logger: Logger): Promise<{ source: StateSource; describe: string; startInBackground: boolean }> {
  if (opts.state) {
    return { source: new DirStateSource(profile, opts.state), describe: `state: ${opts.state}`, startInBackground: false };
  }
  try {
    // Loaded lazily: the Kubernetes client is only needed when serving from a live cluster.
    const { createClusterStateSource } = await import('../../cluster/informer-state.js');
    const source = createClusterStateSource({ profile, logger, ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}) });
    return { source, describe: 'state: live cluster', startInBackground: true };
  } catch (err) {
    throw new UserError(`cluster state: ${err instanceof Error ? err.message : String(err)}`, 1);
  }
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}

async function serve(opts: ServeOptions, profile: Profile): Promise<void> {
  const port = parsePort(opts.port);
  const shutdownDelayMs = parseSeconds('--shutdown-delay', opts.shutdownDelay) * 1000;
  if (!LOG_LEVELS.includes(opts.logLevel)) {
    throw new UserError(`--log-level: unknown level ${JSON.stringify(opts.logLevel)}: use one of ${LOG_LEVELS.join(', ')}`);
  }
  const settings = settingsFrom(opts);
  const logger = pino({ level: opts.logLevel, base: { name: 'meshgate' } });
  // From here on a SIGTERM stops the process cleanly (exit 0), whatever start-up is doing.
  const shutdown = new ServeShutdown({ logger, shutdownDelayMs });
  const startup = start(opts, profile, settings, logger, shutdown, port);
  shutdown.startingUp(startup);
  try {
    await startup;
  } catch (err) {
    if (!shutdown.requested) {
      // Close what did start, then report the error.
      await shutdown.stop('start-up failed', err instanceof UserError ? err.exitCode : 1);
      throw err;
    }
    // Stopped during start-up: the step in progress was cut; that is no error.
    logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'start-up stopped');
  }
  await shutdown.finished;
}

async function start(opts: ServeOptions, profile: Profile, settings: MeshgateSettings, logger: Logger, shutdown: ServeShutdown, port: number): Promise<void> {
  const tls = await chooseTls(opts, profile, logger, shutdown.signal);
  if (tls.source) shutdown.add('certificate source', () => tls.source!.stop());

  // One subscription reloads every TLS listener (webhook and ADS) with a renewed certificate; the
  // listeners start on the newest material, so a renewal during start-up is not lost.
  let current = tls.source?.current() ?? tls.tls;
  let server: WebhookServer | undefined;
  let xds: RunningXds | undefined;
  const unsubscribe = tls.source?.onChange((material) => {
    current = material;
    try {
      server?.updateTls(material);
    } catch (err) {
      logger.error({ err: err instanceof Error ? err.message : String(err) }, 'the renewed certificate was refused; the webhook keeps the old one');
    }
    xds?.updateTls(material);
  });
  if (unsubscribe) shutdown.add('certificate reload', unsubscribe);

  // Injected sidecars dial this Service for ADS and trust the CA behind `tls` (kept current on rotation).
  const stopXdsCa = followXdsCa(settings, { serviceName: opts.serviceName, namespace: profile.controlNamespace, source: tls.source, devCaPath: tls.caPath, tlsCertPath: opts.tlsCert, logger });
  shutdown.add('xDS CA follower', stopXdsCa);
  shutdown.throwIfStopping();

  const { source, describe: stateDescription, startInBackground } = await chooseSource(opts, profile, logger);
  shutdown.add('state source', () => source.stop());
  if (!startInBackground) {
    try {
      await source.start();
    } catch (err) {
      throw new UserError(`--state ${opts.state}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  shutdown.throwIfStopping();

  const webhook = createWebhookServer({ logger, source, settings, tls: current });
  server = webhook;
  const listening = webhook.listen(port, opts.host);
  shutdown.add('webhook server', async () => {
    await listening.catch(() => undefined);
    await webhook.close();
  });
  let address: AddressInfo;
  try {
    address = await listening;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'EADDRINUSE'
        ? `--port ${port}: address ${opts.host}:${port} is already in use: pick another --port`
        : `--host ${opts.host} / --port ${port}: cannot listen: ${err instanceof Error ? err.message : String(err)}`,
      1,
    );
  }
  shutdown.throwIfStopping();

  const adsTls = current;
  const running = await startXds({ opts, logger, source, settings, tls: adsTls, webhook, signal: shutdown.signal });
  if (running) {
    shutdown.add('ADS server', () => running.close());
    xds = running;
    // A renewal that landed while ADS was starting.
    if (current !== adsTls) running.updateTls(current);
  }
  shutdown.throwIfStopping();

  shutdown.servingNow(() => webhook.setDraining());
  const url = `https://${urlHost(opts.host)}:${address.port}`;
  const tryUrl = `https://${urlHost(reachableHost(opts.host))}:${address.port}/readyz`;
  const hint = tls.tryHint({ host: urlHost(reachableHost(opts.host)), port: address.port, url: tryUrl });
  process.stderr.write(`meshgate serving ${url} (${stateDescription}; ${tls.describe}) — try: ${hint}\n`);
  logger.info(
    { url, port: address.port, host: opts.host, profile: profile.name, mesh: profile.meshName, state: stateDescription, counts: source.ready() ? source.state.counts() : undefined, settings: loggable(settings) },
    'meshgate serving',
  );

  if (startInBackground) {
    const cluster = source as ClusterStateSource;
    logger.info({ resources: cluster.informers().map((i) => i.resource) }, 'cluster state: listing and watching');
    // Logged once every informer has listed, with what it found; not before.
    void cluster.synced().then(() => {
      if (!shutdown.requested) logger.info({ counts: source.state.counts(), informers: cluster.informers() }, 'cluster state synced');
    });
    source.start().catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      logger.error({ err: message }, 'cluster state failed to start');
      process.stderr.write(`meshgate: cluster state: ${message}\n`);
      void shutdown.stop('cluster state failed', 1);
    });
  }
}

/** Settings as the start line logs them: the CA the sidecars trust by size, not as a PEM block. */
function loggable(settings: MeshgateSettings): object {
  return { ...settings, xds: { ...settings.xds, caPem: `${settings.xds.caPem.length} bytes` } };
}
