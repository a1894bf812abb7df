/**
 * Whether a golden-file test may rewrite its golden files: only when `variable` (UPDATE_GOLDEN,
 * UPDATE_MANIFESTS) is `1`, and never in CI, where a rewrite would turn every golden test into a
 * test of nothing. In CI (CI=true) any non-empty value of `variable` fails the test instead.
 */
export function mayRewriteGoldens(variable: 'UPDATE_GOLDEN' | 'UPDATE_MANIFESTS'): boolean {
  const value = process.env[variable];
  if (value === undefined || value === '') return false;
  if (process.env.CI === 'true') {
    throw new Error(
      `${variable}=${JSON.stringify(value)} is set with CI=true: golden files are never rewritten in CI, ` +
        `because the comparison would then pass whatever the code renders. Unset ${variable} in the CI environment ` +
        `(.ci/run does), or regenerate the files locally and commit them.`,
    );
  }
  return value === '1';
}
