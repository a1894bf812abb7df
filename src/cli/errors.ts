/**
 * An error the user caused (bad flag, unreadable file, missing namespace). main.ts prints its
 * message as one line on stderr and exits with `exitCode`; never a stack trace.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UserError';
  }
}
