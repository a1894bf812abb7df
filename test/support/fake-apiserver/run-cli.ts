import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = `${root}bin/meshgate`;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built `bin/meshgate` (after `npx tsc -p .`) asynchronously, so an in-process fake API
 * server keeps answering while it runs. `env` is added to a clean environment (no inherited
 * KUBECONFIG or MESHGATE_* variables, HOME pointing nowhere).
 */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  if (!existsSync(`${root}dist/src/cli/main.js`)) throw new Error('bin/meshgate is not built: run `npx tsc -p .` first');
  const base: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent-home' };
  return new Promise((resolve) => {
    execFile(bin, args, { env: { ...base, ...env }, encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
