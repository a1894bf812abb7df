import type { Command } from 'commander';
import { UserError } from '../errors.js';

// Placeholder while the command is being built; replaced by its real implementation.
export function register(program: Command): void {
  program
    .command('namespace')
    .description('(in development)')
    .action(() => {
      throw new UserError('namespace: not built yet', 1);
    });
}
