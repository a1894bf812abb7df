#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { lstatSync } from 'node:fs';
import { enableCompileCache } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from './errors.js';
import { addGlobalOptions } from './global-options.js';
import { buildProgram, COMMAND_MODULES, type Register } from './program.js';

/**
 * Node's compile cache (V8 code cache of every module loaded from here on: the command's modules
 * and their dependencies), so a start does not compile them again: a fifth of `meshgate serve`'s
 * start-up. It lives in the temporary directory, which a non-root user can write and which the
 * Deployment mounts as an emptyDir under its read-only root filesystem; one per user, and only a
 * directory this user owns and no one else can write (a code cache is code). Where none can be
 * used, or NODE_DISABLE_COMPILE_CACHE is set, Node compiles as before, silently; NODE_COMPILE_CACHE
 * set by the caller takes precedence.
 */
function useCompileCache(): void {
  try {
    const uid = process.getuid?.();
    const dir = join(tmpdir(), `meshgate-compile-cache${uid === undefined ? '' : `-${uid}`}`);
    const st = lstatSync(dir, { throwIfNoEntry: false });
    if (st && (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0)) return;
    enableCompileCache(dir);
  } catch {
    // Without the cache: only slower.
  }
}
useCompileCache();

/** The command word: the first argument that is neither an option nor the value of a global option (`--mesh-namespace egress validate`). */
function commandName(args: string[]): string | undefined {
  const takesValue = new Set(addGlobalOptions(new Command()).options.filter((o) => o.required || o.optional).map((o) => o.long));
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return undefined;
    if (!a.startsWith('-')) return a;
    if (takesValue.has(a)) i++;
  }
  return undefined;
}

async function loadRegistrations(argv: string[]): Promise<Register[]> {
  const named = commandName(argv.slice(2));
  const loaders = named && Object.hasOwn(COMMAND_MODULES, named) ? [COMMAND_MODULES[named]!] : [...new Set(Object.values(COMMAND_MODULES))];
  const modules = await Promise.all(loaders.map((load) => load()));
  return [...new Set(modules.map((m) => m.register))];
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram(await loadRegistrations(argv));
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; usage errors were already printed by commander.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? 0 : 2;
    }
    if (err instanceof UserError) {
      process.stderr.write(`meshgate: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`meshgate: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

/**
 * A reader that went away (`meshgate install | head -1`) ends the output, not the program with an
 * unhandled 'error' stack trace: exit quietly with the status decided so far.
 */
function exitOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}
exitOnClosedPipe(process.stdout);
exitOnClosedPipe(process.stderr);

const exitCode = await main(process.argv);
if (exitCode !== 0 || process.exitCode === undefined) process.exitCode = exitCode;
