import type { Logger } from 'pino';

/**
 * How `meshgate serve` stops, at any moment of its start-up or while serving (a pod is stopped
 * during a rollout whenever Kubernetes likes). The signal handlers are installed before anything
 * starts; each part that starts registers how to close it, and a stop closes them in reverse order:
 *
 * - first SIGTERM/SIGINT: `signal` aborts (start-up steps in flight give up: API requests are cut,
 *   nothing more is started), readiness turns false, `--shutdown-delay` passes if the server was
 *   serving, then every registered part closes, newest first;
 * - a second SIGTERM/SIGINT while stopping exits at once;
 * - bounds: if closing takes longer than the delay plus `forceAfterMs`, or the process is still
 *   alive `lingerMs` after everything closed (a handle nobody closed), the process exits anyway and
 *   logs what was still open.
 *
 * Every exit after a signal is status 0 (the stop was asked for); after a failure, its status.
 */
export interface ServeShutdownOptions {
  logger: Logger;
  shutdownDelayMs: number;
  /** Closing may take this long beyond the delay (the webhook's own drain bound is 25 s). Default 35 s. */
  forceAfterMs?: number;
  /** After everything closed, the process should be gone within this long. Default 5 s. */
  lingerMs?: number;
  /** Ends the process (process.exit, replaceable for tests). */
  exit?: (code: number) => void;
  /** Where the one-line notice of a forced exit goes (stderr, replaceable for tests). */
  notice?: (line: string) => void;
}

interface Closer {
  name: string;
  close: () => unknown;
}

export class ServeShutdown {
  private readonly controller = new AbortController();
  private readonly closers: Closer[] = [];
  private drainHook: (() => void) | undefined;
  private serving = false;
  private exitCode = 0;
  private stopping: Promise<void> | undefined;
  private startup: Promise<unknown> = Promise.resolve();
  private markFinished!: () => void;
  /** Resolves once a stop has closed everything. */
  readonly finished = new Promise<void>((resolve) => (this.markFinished = resolve));
  private readonly exit: (code: number) => void;
  private afterward = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private forced = false;
  private readonly onTerm = () => this.onSignal('SIGTERM');
  private readonly onInt = () => this.onSignal('SIGINT');

  constructor(private readonly opts: ServeShutdownOptions) {
    this.exit = opts.exit ?? ((code) => process.exit(code));
    process.on('SIGTERM', this.onTerm);
    process.on('SIGINT', this.onInt);
  }

  /** Aborted when the stop begins: start-up steps pass it to what they wait on. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get requested(): boolean {
    return this.controller.signal.aborted;
  }

  /**
   * The start-up in progress: a stop first lets it settle (its steps watch `signal` and give up),
   * so that what it started is registered before anything is closed.
   */
  startingUp(startup: Promise<unknown>): void {
    this.startup = startup.catch(() => undefined);
  }

  /** Throws if a stop began: start-up calls it between steps, so nothing new starts. */
  throwIfStopping(): void {
    this.controller.signal.throwIfAborted();
  }

  /** Registers how to close a part that started; parts close newest first. */
  add(name: string, close: () => unknown): void {
    this.closers.push({ name, close });
  }

  /** The server is serving: a stop first turns readiness false (`drain`) and waits `--shutdown-delay`. */
  servingNow(drain: () => void): void {
    this.serving = true;
    this.drainHook = drain;
  }

  /** Stops (once): resolves when every registered part is closed. */
  stop(why: string, exitCode = 0): Promise<void> {
    if (this.stopping) return this.stopping;
    this.exitCode = exitCode;
    this.controller.abort(new Error(`meshgate is shutting down (${why})`));
    const { logger, shutdownDelayMs } = this.opts;
    logger.info({ why }, 'shutting down');
    const bound = setTimeout(() => this.force(`shutdown did not finish within ${Math.round((shutdownDelayMs + this.forceAfterMs) / 1000)}s`), shutdownDelayMs + this.forceAfterMs);
    bound.unref();
    this.timers.push(bound);
    this.stopping = (async () => {
      await this.startup;
      if (this.serving) {
        this.drainHook?.();
        if (shutdownDelayMs > 0) await new Promise((r) => this.timers.push(setTimeout(r, shutdownDelayMs)));
      }
      while (this.closers.length > 0) {
        const { name, close } = this.closers.pop()!;
        try {
          await close();
        } catch (err) {
          logger.warn({ err: err instanceof Error ? err.message : String(err), part: name }, 'did not close cleanly');
        }
      }
      clearTimeout(bound);
      if (exitCode !== 0) process.exitCode = exitCode;
      // Everything is closed: the event loop should empty now. If a handle was left open, say which and go.
      const linger = setTimeout(() => this.force('still running after everything closed'), this.opts.lingerMs ?? 5_000);
      linger.unref();
      this.timers.push(linger);
      // A signal from now on (the process is about to end) exits at once, not with a signal status.
      this.afterward = true;
      this.markFinished();
    })();
    return this.stopping;
  }

  private get forceAfterMs(): number {
    return this.opts.forceAfterMs ?? 35_000;
  }

  /** Drops the signal handlers and the bounds (for tests that run it inside their own process). */
  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    this.detach();
  }

  private detach(): void {
    process.off('SIGTERM', this.onTerm);
    process.off('SIGINT', this.onInt);
  }

  private onSignal(signal: NodeJS.Signals): void {
    if (this.stopping || this.afterward) {
      this.force(`${signal} again`);
      return;
    }
    void this.stop(signal, 0);
  }

  private force(why: string): void {
    if (this.forced) return;
    this.forced = true;
    this.detach();
    const open = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
    this.opts.logger.warn({ why, open }, 'forcing exit');
    (this.opts.notice ?? ((line) => process.stderr.write(line)))(`meshgate: forcing exit: ${why}${open.length > 0 ? ` (still open: ${open.join(', ')})` : ''}\n`);
    this.exit(this.exitCode);
  }
}
