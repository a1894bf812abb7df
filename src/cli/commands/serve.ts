import { Option, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { pino, type Logger } from 'pino';
import type { CertificateSource } from '../../certs/certificate-source.js';
import { FileCertificateSource } from '../../certs/file-certificate-source.js';
import { serviceDnsNames } from '../../certs/generate.js';
import { DirStateSource } from '../../cluster/state-dir.js';
import { WEBHOOK_PORT, type Profile } from '../../profile.js';
import type { StateSource } from '../../state/mesh-state.js';
import { createWebhookServer, type TlsMaterial } from '../../webhook/server.js';
import { addXdsOptions, startXds, type XdsOptionValues } from '../../xds/serve-xds.js';
import { UserError } from '../errors.js';
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
  caPath?: string;
  /** Where renewed certificates come from (mounted files, or the Secret the server manages). */
  source?: CertificateSource;
}

async function chooseTls(opts: ServeOptions, profile: Profile, logger: Logger): Promise<TlsChoice> {
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
    return { source: files, tls: await files.start(), describe: `certificate: ${certPath}` };
  }
  if (opts.certSecret) {
    const [{ CertificateManager }, { kubeCertificateApi }, { loadKubeConfig }] = await Promise.all([
      import('../../certs/certificate-manager.js'),
      import('../../certs/kube-certificate-api.js'),
      import('../../cluster/kube-config.js'),
    ]);
    let manager;
    try {
      manager = new CertificateManager({
        api: kubeCertificateApi(loadKubeConfig(opts.kubeconfig)),
        namespace: profile.controlNamespace,
        secretName: opts.certSecret,
        serviceName: opts.serviceName,
        ...(opts.validatingWebhookConfig ? { validatingWebhookConfiguration: opts.validatingWebhookConfig } : {}),
        ...(opts.mutatingWebhookConfig ? { mutatingWebhookConfiguration: opts.mutatingWebhookConfig } : {}),
        logger,
      });
      return { source: manager, tls: await manager.start(), describe: `certificate: Secret ${profile.controlNamespace}/${opts.certSecret}` };
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
    return { tls: { cert: dev.cert, key: dev.key }, describe: `CA: ${dev.caPath}`, caPath: dev.caPath };
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
  const tls = await chooseTls(opts, profile, logger);
  // Injected sidecars dial this Service for ADS and trust the CA behind `tls` (kept current on rotation).
  const stopXdsCa = followXdsCa(settings, { serviceName: opts.serviceName, namespace: profile.controlNamespace, source: tls.source, devCaPath: tls.caPath, tlsCertPath: opts.tlsCert, logger });
  const { source, describe: stateDescription, startInBackground } = await chooseSource(opts, profile, logger);

  if (!startInBackground) {
    try {
      await source.start();
    } catch (err) {
      throw new UserError(`--state ${opts.state}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  const server = createWebhookServer({ logger, source, settings, tls: tls.tls });
  let address: AddressInfo;
  try {
    address = await server.listen(port, opts.host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'EADDRINUSE'
        ? `--port ${port}: address ${opts.host}:${port} is already in use: pick another --port`
        : `--host ${opts.host} / --port ${port}: cannot listen: ${err instanceof Error ? err.message : String(err)}`,
      1,
    );
  }
  const unsubscribe = tls.source?.onChange((material) => server.updateTls(material));
  const stopWatching = () => {
    unsubscribe?.();
    stopXdsCa();
    tls.source?.stop();
  };
  let xds: Awaited<ReturnType<typeof startXds>>;
  try {
    xds = await startXds({ opts, logger, source, settings, tls: tls.tls, certificateSource: tls.source, webhook: server });
  } catch (err) {
    await server.close();
    stopWatching();
    throw err;
  }

  await new Promise<void>((resolve) => {
    let stopping = false;
    const shutdown = async (why: string, exitCode: number) => {
      if (stopping) return;
      stopping = true;
      logger.info({ why }, 'shutting down');
      server.setDraining();
      if (shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, shutdownDelayMs));
      await xds?.close();
      await server.close();
      stopWatching();
      try {
        await source.stop();
      } catch (err) {
        logger.warn({ err }, 'state source did not stop cleanly');
      }
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      if (exitCode !== 0) process.exitCode = exitCode;
      resolve();
    };
    const onTerm = () => void shutdown('SIGTERM', 0);
    const onInt = () => void shutdown('SIGINT', 0);
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);

    // Printed once the signal handlers are in place: whoever waits for this line may stop us at once.
    const url = `https://${urlHost(opts.host)}:${address.port}`;
    const tryUrl = `https://${urlHost(reachableHost(opts.host))}:${address.port}/readyz`;
    const hint = tls.caPath ? `curl --cacert ${tls.caPath} ${tryUrl}` : `curl --cacert <CA of ${opts.tlsCert}> ${tryUrl}`;
    process.stderr.write(`meshgate serving ${url} (${stateDescription}; ${tls.describe}) — try: ${hint}\n`);
    logger.info(
      { url, port: address.port, host: opts.host, profile: profile.name, mesh: profile.meshName, state: stateDescription, counts: source.ready() ? source.state.counts() : undefined, settings: loggable(settings) },
      'meshgate serving',
    );

    if (startInBackground) {
      source.start().then(
        () => logger.info({ counts: source.state.counts() }, 'cluster state synced'),
        (err: unknown) => {
          const message = err instanceof Error ? err.message : String(err);
          logger.error({ err: message }, 'cluster state failed to start');
          process.stderr.write(`meshgate: cluster state: ${message}\n`);
          void shutdown('cluster state failed', 1);
        },
      );
    }
  });
}

/** Settings as the start line logs them: the CA the sidecars trust by size, not as a PEM block. */
function loggable(settings: MeshgateSettings): object {
  return { ...settings, xds: { ...settings.xds, caPem: `${settings.xds.caPem.length} bytes` } };
}
