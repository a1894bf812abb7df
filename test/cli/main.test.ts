import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MESHGATE_BIN, runCli } from '../support/run-cli.js';

/** These run the compiled CLI (bin/meshgate → dist/): `npm test` builds first. */

/** Runs meshgate with one of its output pipes closed before it writes, as `meshgate … | head -1` ends up. */
function runWithClosedPipe(args: string[], closed: 'stdout' | 'stderr'): Promise<{ code: number | null; signal: NodeJS.Signals | null; other: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(MESHGATE_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child[closed].destroy();
    let other = '';
    const open = closed === 'stdout' ? child.stderr : child.stdout;
    open.setEncoding('utf8').on('data', (d: string) => (other += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, other });
    });
  });
}

describe('meshgate (the program)', function () {
  it('prints help for the program and for every command and subcommand, exit 0', async () => {
    const commands = [
      [],
      ['serve'],
      ['validate'],
      ['inject'],
      ['uninject'],
      ['install'],
      ['namespace'],
      ['namespace', 'add'],
      ['namespace', 'remove'],
      ['namespace', 'list'],
      ['namespace', 'ignore'],
      ['egress'],
      ['egress', 'enable'],
      ['egress', 'disable'],
      ['egress', 'status'],
    ];
    for (const c of commands) {
      const r = await runCli([...c, '--help']);
      expect(r.code, `${c.join(' ')} --help: ${r.stderr}`).to.equal(0);
      // `namespace` prints its alias: `Usage: meshgate namespace|ns [options] ...`.
      const usage = ['meshgate', ...c].join(' ').replace('namespace', 'namespace(\\|ns)?');
      expect(r.stdout, c.join(' ')).to.match(new RegExp(`^Usage: ${usage} `));
      expect(r.stderr, c.join(' ')).to.equal('');
    }
    const help = await runCli(['help', 'validate']);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.match(/^Usage: meshgate validate /);
  });

  it('runs through a symlink elsewhere (how `npx meshgate`, `npm link` and node_modules/.bin reach it)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshgate-link-'));
    try {
      const link = join(dir, 'meshgate');
      symlinkSync(MESHGATE_BIN, link);
      const r = spawnSync(link, ['validate', '-f', 'examples/policies/osm/httpbin-80.yaml'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.stderr).not.to.contain('not built yet');
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.contain(': valid\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finds the command after a global option whose value is a command name', async () => {
    const r = await runCli(['--mesh-namespace', 'egress', 'validate', '-f', 'examples/policies/osm/httpbin-80.yaml']);
    expect(r.stderr).not.to.contain('unknown command');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(': valid\n');
  });

  describe('a reader that goes away (EPIPE) is a normal end, never a stack trace', () => {
    it('stdout closed: --help, install and inject exit 0 with nothing on stderr', async () => {
      for (const args of [['--help'], ['install'], ['inject', '-f', 'examples/workloads', '--xds-ca', 'test/injector/xds-ca.crt']]) {
        const r = await runWithClosedPipe(args, 'stdout');
        expect(r.other, args.join(' ')).not.to.match(/EPIPE|Unhandled|\n\s+at /);
        expect(r.signal, args.join(' ')).to.equal(null);
        expect(r.code, `${args.join(' ')}: ${r.other}`).to.equal(0);
      }
    });

    it('stdout closed: validate keeps its verdict (exit 1 when something is invalid)', async () => {
      const r = await runWithClosedPipe(['validate', '-f', 'examples/invalid'], 'stdout');
      expect(r.other).not.to.match(/EPIPE|Unhandled|\n\s+at /);
      expect(r.code, r.other).to.equal(1);
    });

    it('stderr closed: a usage error keeps its exit status 2', async () => {
      const r = await runWithClosedPipe(['validate', '-f', '/nonexistent/meshgate-input.yaml'], 'stderr');
      expect(r.signal).to.equal(null);
      expect(r.code).to.equal(2);
    });
  });
});
