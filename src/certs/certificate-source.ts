/** A serving certificate and its private key, PEM. What the webhook server's `updateTls` takes. */
export interface TlsMaterial {
  cert: string;
  key: string;
}

/**
 * Where the server's certificate comes from: the self-managed Secret (CertificateManager) or
 * files mounted from cert-manager's Secret (FileCertificateSource). `onChange` fires after the
 * material changed; the server then swaps its TLS context (`updateTls`).
 */
export interface CertificateSource {
  current(): TlsMaterial;
  onChange(listener: (tls: TlsMaterial) => void): () => void;
  stop(): void;
}

/** Time, injectable so tests can move it. Milliseconds since the epoch. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** The logging the certificate code needs (a pino Logger fits). */
export interface CertLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: CertLogger = { info() {}, warn() {}, error() {} };

/** Calls every listener; a throwing listener is logged and does not stop the others. */
export function notifyAll(listeners: Iterable<(tls: TlsMaterial) => void>, tls: TlsMaterial, logger: CertLogger): void {
  for (const listener of listeners) {
    try {
      listener(tls);
    } catch (err) {
      logger.error({ err }, 'certificate change listener failed');
    }
  }
}
