#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { UserError } from './errors.js';
import { addGlobalOptions } from './global-options.js';
import { register as registerServe } from './commands/serve.js';
import { register as registerValidate } from './commands/validate.js';
import { register as registerInject } from './commands/inject.js';
import { register as registerNamespace } from './commands/namespace.js';
import { register as registerEgress } from './commands/egress.js';
import { register as registerInstall } from './commands/install.js';

const require = createRequire(import.meta.url);
const { version } = require('../../../package.json') as { version: string };

export function buildProgram(): Command {
  const program = new Command('meshgate')
    .description('Admission control for service-mesh egress: validates Egress policies, injects the egress proxy sidecar.')
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  addGlobalOptions(program);
  for (const register of [registerServe, registerValidate, registerInject, registerNamespace, registerEgress, registerInstall]) {
    register(program);
  }
  // Subcommands inherit exitOverride so usage errors come back here as CommanderError.
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
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

const exitCode = await main(process.argv);
if (exitCode !== 0 || process.exitCode === undefined) process.exitCode = exitCode;
