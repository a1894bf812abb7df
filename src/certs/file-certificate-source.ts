import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { notifyAll, silentLogger, type CertificateSource, type CertLogger, type TlsMaterial } from './certificate-source.js';
import { keyMatches } from './pem.js';

export interface FileCertificateSourceOptions {
  certFile: string;
  keyFile: string;
  /** Polling period, the fallback when fs events are missed or unsupported (default 10 s). */
  pollIntervalMs?: number;
  /** Watch the directories with fs.watch (default true); polling always runs. */
  watch?: boolean;
  logger?: CertLogger;
}

/**
 * A certificate read from files, reloaded when they change: cert-manager mode, where the kubelet
 * projects cert-manager's Secret into the pod. The kubelet swaps a `..data` symlink in the mount
 * directory, so the directory is watched (a watch on the file itself would follow the old inode),
 * and a poll catches what events miss. A new pair is used only when the key matches the
 * certificate, so a half-written update (certificate first, key later) is never served.
 */
export class FileCertificateSource implements CertificateSource {
  private readonly listeners = new Set<(tls: TlsMaterial) => void>();
  private readonly logger: CertLogger;
  private tls: TlsMaterial | undefined;
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<boolean> | undefined;
  private again = false;

  constructor(private readonly opts: FileCertificateSourceOptions) {
    this.logger = opts.logger ?? silentLogger;
  }

  /** Reads the files (failing if they are missing or not a pair) and starts watching. */
  async start(): Promise<TlsMaterial> {
    const tls = await this.read();
    if (!tls) throw new Error(`${this.opts.certFile} and ${this.opts.keyFile} are not a certificate and its private key`);
    this.tls = tls;
    const dirs = this.opts.watch === false ? [] : [...new Set([path.dirname(this.opts.certFile), path.dirname(this.opts.keyFile)])];
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => void this.reload());
        w.on('error', (err) => this.logger.warn({ err, dir }, 'certificate directory watch failed; polling only'));
        this.watchers.push(w);
      } catch (err) {
        this.logger.warn({ err, dir }, 'cannot watch the certificate directory; polling only');
      }
    }
    this.timer = setInterval(() => void this.reload(), this.opts.pollIntervalMs ?? 10_000);
    this.timer.unref();
    return tls;
  }

  current(): TlsMaterial {
    if (!this.tls) throw new Error('file certificate source: not started');
    return this.tls;
  }

  onChange(listener: (tls: TlsMaterial) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads the files now; true when the certificate changed. Bursts of events collapse into one more read. */
  reload(): Promise<boolean> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      let changed = false;
      do {
        this.again = false;
        changed = (await this.reloadOnce()) || changed;
      } while (this.again);
      return changed;
    })().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async reloadOnce(): Promise<boolean> {
    const tls = await this.read();
    if (!tls || !this.tls || (tls.cert === this.tls.cert && tls.key === this.tls.key)) return false;
    this.tls = tls;
    this.logger.info({ certFile: this.opts.certFile }, 'certificate files changed; reloading');
    notifyAll(this.listeners, tls, this.logger);
    return true;
  }

  private async read(): Promise<TlsMaterial | undefined> {
    try {
      const [cert, key] = await Promise.all([readFile(this.opts.certFile, 'utf8'), readFile(this.opts.keyFile, 'utf8')]);
      return keyMatches(cert, key) ? { cert, key } : undefined;
    } catch {
      return undefined;
    }
  }
}
