import { expect } from 'chai';
import { ServeShutdown } from '../../src/cli/serve-shutdown.js';
import { capturingLogger, eventually } from '../support/fake-apiserver/wait.js';

/**
 * ServeShutdown in-process, with `exit` injected: the order it closes things in, how a stop
 * during start-up waits for start-up to give up, and the bounds that force the exit when closing
 * hangs or a handle stays open. (The process-level behaviour is in serve-shutdown.test.ts.)
 */
describe('ServeShutdown: order and bounds of `meshgate serve`\'s stop', () => {
  const made: ServeShutdown[] = [];
  function make(opts: { shutdownDelayMs?: number; forceAfterMs?: number; lingerMs?: number } = {}) {
    const log = capturingLogger();
    const exits: number[] = [];
    const notices: string[] = [];
    const s = new ServeShutdown({
      logger: log.logger,
      shutdownDelayMs: opts.shutdownDelayMs ?? 0,
      forceAfterMs: opts.forceAfterMs ?? 60_000,
      lingerMs: opts.lingerMs ?? 60_000,
      exit: (code) => exits.push(code),
      notice: (line) => notices.push(line),
    });
    made.push(s);
    return { s, log, exits, notices };
  }
  afterEach(() => {
    for (const s of made.splice(0)) s.dispose();
  });

  it('closes the registered parts newest first, after draining when it was serving', async () => {
    const { s, exits } = make();
    const order: string[] = [];
    s.add('certificate source', () => void order.push('certificate source'));
    s.add('state source', async () => void order.push('state source'));
    s.add('webhook server', () => void order.push('webhook server'));
    s.servingNow(() => order.push('drain'));
    await s.stop('SIGTERM');
    expect(order).to.deep.equal(['drain', 'webhook server', 'state source', 'certificate source']);
    expect(s.requested).to.equal(true);
    expect(exits).to.deep.equal([]);
  });

  it('a part that fails to close is logged and the others still close', async () => {
    const { s, log } = make();
    const closed: string[] = [];
    s.add('first', () => void closed.push('first'));
    s.add('broken', () => {
      throw new Error('boom');
    });
    await s.stop('SIGTERM');
    expect(closed).to.deep.equal(['first']);
    expect(log.lines.find((l) => l.msg === 'did not close cleanly')).to.deep.include({ part: 'broken', err: 'boom' });
  });

  it('a stop during start-up aborts the signal, waits for start-up to settle, then closes what it registered', async () => {
    const { s } = make();
    const order: string[] = [];
    let finishStartup!: () => void;
    const startup = new Promise<void>((resolve) => (finishStartup = resolve)).then(() => {
      // What start-up registered before it noticed the stop.
      s.add('started late', () => void order.push('started late'));
    });
    s.startingUp(startup);
    s.add('early', () => void order.push('early'));
    const stopped = s.stop('SIGTERM');
    expect(s.signal.aborted).to.equal(true);
    expect(() => s.throwIfStopping()).to.throw(/shutting down \(SIGTERM\)/);
    expect(order).to.deep.equal([]);
    finishStartup();
    await stopped;
    expect(order).to.deep.equal(['started late', 'early']);
  });

  it('forces the exit, with the status decided, when closing hangs past the bound; and says why', async () => {
    const { s, exits, notices } = make({ forceAfterMs: 50 });
    s.add('hangs', () => new Promise(() => undefined));
    void s.stop('SIGTERM', 0);
    await eventually('forced exit', () => exits.length > 0);
    expect(exits).to.deep.equal([0]);
    expect(notices[0]).to.match(/^meshgate: forcing exit: shutdown did not finish within 0s/);
  });

  it('forces the exit when the process is still alive after everything closed (a handle left open)', async () => {
    const { s, exits, notices } = make({ lingerMs: 20 });
    const leaked = setInterval(() => undefined, 1_000);
    try {
      await s.stop('SIGTERM');
      await eventually('forced exit', () => exits.length > 0);
    } finally {
      clearInterval(leaked);
    }
    expect(exits).to.deep.equal([0]);
    expect(notices[0]).to.match(/^meshgate: forcing exit: still running after everything closed \(still open: .*Timeout/);
  });

  it('a second SIGTERM while stopping exits at once', async () => {
    const { s, exits, notices } = make({ shutdownDelayMs: 60_000 });
    s.servingNow(() => undefined);
    process.emit('SIGTERM', 'SIGTERM');
    expect(s.requested).to.equal(true);
    expect(exits).to.deep.equal([]);
    process.emit('SIGTERM', 'SIGTERM');
    expect(exits).to.deep.equal([0]);
    expect(notices[0]).to.match(/forcing exit: SIGTERM again/);
  });
});
