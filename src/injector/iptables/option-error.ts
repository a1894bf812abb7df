/**
 * Thrown by the interception-script renderer when an option is not something it can put into a
 * shell script safely. The injector validates every value before calling the renderer, so reaching
 * this is a bug upstream; the renderer still refuses rather than emit text it has not checked.
 */
export class InterceptionOptionError extends Error {
  override readonly name = 'InterceptionOptionError';

  constructor(
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`interception option ${field}: ${JSON.stringify(value)} ${reason}`);
  }
}
