import damerauLevenshtein from 'damerau-levenshtein';

/**
 * The candidate that `input` is one edit away from, compared without regard to case: one
 * insertion, deletion, substitution or swap of two adjacent characters (Damerau-Levenshtein,
 * optimal string alignment, from the `damerau-levenshtein` package), or only a difference of case.
 * Undefined when none is that close, or when `input` is a candidate as written. For the
 * "did you mean" of a misspelt kind, API group or metadata field.
 */
export function oneEditAway(input: string, candidates: readonly string[]): string | undefined {
  if (candidates.includes(input)) return undefined;
  const lower = input.toLowerCase();
  // Distance ≥ the length difference: only candidates within one character of length can be close.
  return candidates.find((c) => Math.abs(c.length - input.length) <= 1 && damerauLevenshtein(c.toLowerCase(), lower).steps <= 1);
}
