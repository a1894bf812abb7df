import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CertificateSource, CertLogger } from '../certs/certificate-source.js';
import { setXdsCa, type MeshgateSettings } from '../settings.js';
import { UserError } from './errors.js';

/**
 * The CA the injected sidecar trusts for meshgate's ADS server (the bootstrap's `root_certs`,
 * SPEC §10), for the two commands that inject: `meshgate inject` reads it from a file, `meshgate
 * serve` follows its certificate source. The injector only ever receives the PEM text.
 */

/** `meshgate serve --dev` keeps its CA here (serve.ts, DEV_CERTS_DIR). */
export const DEV_CA_PATH = join('.dev-certs', 'ca.crt');
export const XDS_CA_FLAG = '--xds-ca';
export const XDS_CA_ENV = 'MESHGATE_XDS_CA';

/** The certificates of a PEM text, checked: undefined when it holds none or one does not parse. */
function checkedPem(text: string): string | undefined {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (!blocks) return undefined;
  try {
    for (const b of blocks) new X509Certificate(b);
  } catch {
    return undefined;
  }
  return `${blocks.join('\n')}\n`;
}

/** A CA file named by the user: its certificates, or a UserError (exit 2) naming `what`. */
export function readCaFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`${what} ${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const pem = checkedPem(text);
  if (!pem) throw new UserError(`${what} ${path}: not a PEM CA certificate (expected -----BEGIN CERTIFICATE-----)`);
  return pem;
}

/**
 * For `meshgate inject`: `--xds-ca FILE` (or MESHGATE_XDS_CA), else the development CA of
 * `meshgate serve --dev` in this directory, else a UserError naming the flag.
 */
export function offlineXdsCa(flagValue: string | undefined, command = 'inject'): string {
  if (flagValue) return readCaFile(flagValue, XDS_CA_FLAG);
  if (existsSync(DEV_CA_PATH)) return readCaFile(DEV_CA_PATH, `${XDS_CA_FLAG} (default)`);
  throw new UserError(
    `${command}: no CA for the sidecar to verify meshgate's xDS server: pass ${XDS_CA_FLAG} FILE (${XDS_CA_ENV}), meshgate's CA certificate (ca.crt of the Secret meshgate-webhook-tls)`,
  );
}

export interface ServeXdsOptions {
  /** The meshgate Service the sidecars dial, and its namespace. */
  serviceName: string;
  namespace: string;
  /** Renewed certificates (the self-managed Secret, or cert-manager's files). */
  source?: CertificateSource | undefined;
  /** `--dev`'s CA file. */
  devCaPath?: string | undefined;
  /** `--tls-cert`: cert-manager's Secret puts ca.crt beside tls.crt. */
  tlsCertPath?: string | undefined;
  logger: CertLogger;
  /** How often to look again (the Secret's CA bundle changes without a new serving certificate). */
  pollMs?: number;
}

/**
 * For `meshgate serve`: points the settings at the Service and keeps `settings.xds.caPem` equal to
 * what the server's certificate chains to, now and after every rotation. The self-managed Secret's
 * whole trust bundle (during a CA rotation, old and next CA), so pods injected then keep verifying
 * the server after the next CA signs; with `--tls-cert`, ca.crt beside it (cert-manager writes it);
 * with `--dev`, the development CA. Returns a function that stops following.
 */
export function followXdsCa(settings: MeshgateSettings, o: ServeXdsOptions): () => void {
  settings.xds = { ...settings.xds, serviceName: o.serviceName, namespace: o.namespace };
  const caFile = o.devCaPath ?? (o.tlsCertPath ? join(dirname(o.tlsCertPath), 'ca.crt') : undefined);
  const bundleOf = (o.source as { caBundle?: () => string } | undefined)?.caBundle?.bind(o.source);
  const current = (): string | undefined => {
    if (bundleOf) return checkedPem(bundleOf());
    if (!caFile) return undefined;
    try {
      return checkedPem(readFileSync(caFile, 'utf8'));
    } catch {
      return undefined;
    }
  };
  const refresh = () => {
    const pem = current();
    // A file mid-rewrite or briefly missing keeps the CA already known.
    if (pem === undefined || pem === settings.xds.caPem) return;
    if (settings.xds.caPem) o.logger.info({ from: caFile ?? 'certificate Secret' }, 'xDS CA changed: new sidecars trust the new CA');
    setXdsCa(settings, pem);
  };
  refresh();
  if (!settings.xds.caPem) {
    o.logger.warn(
      { looked: caFile ?? 'certificate source' },
      `no CA for injected sidecars to verify the xDS server: their bootstraps name no roots; put ca.crt beside --tls-cert`,
    );
  }
  const unsubscribe = o.source?.onChange(() => refresh());
  const timer = setInterval(refresh, o.pollMs ?? 30_000);
  timer.unref();
  return () => {
    clearInterval(timer);
    unsubscribe?.();
  };
}
