import { Command } from 'commander';
import { MESHGATE_VERSION } from '../version.js';
import { addGlobalOptions } from './global-options.js';

export type Register = (program: Command) => void;

/**
 * Command modules by the command names they register. Only the module of the command being run is
 * loaded (the serve and cluster commands pull in express and the Kubernetes client), so start-up
 * stays fast; `meshgate --help` loads them all to list them.
 */
export const COMMAND_MODULES: Record<string, () => Promise<{ register: Register }>> = {
  serve: () => import('./commands/serve.js'),
  validate: () => import('./commands/validate.js'),
  inject: () => import('./commands/inject.js'),
  uninject: () => import('./commands/inject.js'),
  namespace: () => import('./commands/namespace.js'),
  ns: () => import('./commands/namespace.js'),
  egress: () => import('./commands/egress.js'),
  proxy: () => import('./commands/proxy.js'),
  install: () => import('./commands/install.js'),
};

export function buildProgram(registrations: Register[]): Command {
  const program = new Command('meshgate')
    .description('Admission control for service-mesh egress: validates Egress policies, injects the egress proxy sidecar.')
    .version(MESHGATE_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  addGlobalOptions(program);
  for (const register of registrations) register(program);
  // Subcommands inherit exitOverride so usage errors come back here as CommanderError.
  for (const c of program.commands) c.exitOverride();
  return program;
}
