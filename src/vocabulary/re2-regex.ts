import { RE2JS } from 're2js';

/**
 * Checks that a pattern compiles as RE2, the engine Envoy uses for route matching (JavaScript's
 * RegExp accepts look-arounds and back-references Envoy rejects, and rejects some RE2 syntax).
 * Returns the detail of an Invalid error, or undefined when it compiles.
 */
export function re2Error(pattern: string): string | undefined {
  try {
    RE2JS.compile(pattern);
    return undefined;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return `must be an RE2 regular expression: ${reason.replace(/[\r\n]+/g, ' ')}`;
  }
}
