import { expect } from 'chai';
import type { CliProcess } from './run-cli.js';

/**
 * Sends SIGTERM to a spawned `meshgate serve` and asserts the exit within `boundMs`: status 0, no
 * signal, "shutting down" logged, no unexpected error, and no forced exit (or, with `forced`, exactly
 * that forced exit). The bound only keeps a hang from hanging the suite.
 */
export async function expectPromptCleanExit(p: CliProcess, where: string, opts: { boundMs: number; forced?: string }): Promise<void> {
  p.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    p.exited,
    new Promise<'alive'>((r) => {
      timer = setTimeout(() => r('alive'), opts.boundMs);
    }),
  ]);
  clearTimeout(timer);
  expect(outcome, `${where}: still running ${opts.boundMs / 1000}s after SIGTERM; stderr: ${p.stderr()}`).to.not.equal('alive');
  expect(outcome, `${where}: stderr: ${p.stderr()}`).to.deep.equal({ code: 0, signal: null });
  if (opts.forced) expect(p.stderr(), where).to.include(`forcing exit: ${opts.forced}`);
  else expect(p.stderr(), where).to.not.match(/forcing exit/);
  expect(p.stderr(), where).to.not.include('unexpected error');
  expect(p.stdout(), where).to.include('"msg":"shutting down"');
}
