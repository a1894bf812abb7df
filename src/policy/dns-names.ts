/**
 * DNS name checks with apimachinery's exact messages (k8s.io/apimachinery/pkg/util/validation), so
 * an error here reads like the API server's own.
 */

/** apimachinery's `RegexError`: the odd double space after the first example is theirs. */
function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  let out = `${msg} (e.g. `;
  examples.forEach((e, i) => {
    if (i > 0) out += ' or ';
    out += `'${e}', `;
  });
  return `${out}regex used for validation is '${fmt}')`;
}

export function maxLenError(n: number): string {
  return `must be no more than ${n} characters`;
}

const LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const LABEL_RE = new RegExp(`^${LABEL_FMT}$`);
export const DNS1123_LABEL_MAX = 63;
export const DNS1123_LABEL_MESSAGE = regexError(
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
  LABEL_FMT,
  'my-name',
  '123-abc',
);

const SUBDOMAIN_FMT = `${LABEL_FMT}(\\.${LABEL_FMT})*`;
const SUBDOMAIN_RE = new RegExp(`^${SUBDOMAIN_FMT}$`);
export const DNS1123_SUBDOMAIN_MAX = 253;
export const DNS1123_SUBDOMAIN_MESSAGE = regexError(
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
  SUBDOMAIN_FMT,
  'example.com',
);

const WILDCARD_FMT = `\\*\\.${SUBDOMAIN_FMT}`;
export const WILDCARD_SUBDOMAIN_MESSAGE = regexError(
  "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character",
  WILDCARD_FMT,
  '*.example.com',
);

/** apimachinery `IsDNS1123Label`: the list of problems (empty when valid). */
export function dns1123LabelErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > DNS1123_LABEL_MAX) errs.push(maxLenError(DNS1123_LABEL_MAX));
  if (!LABEL_RE.test(value)) errs.push(DNS1123_LABEL_MESSAGE);
  return errs;
}

/** apimachinery `IsDNS1123Subdomain`. */
export function dns1123SubdomainErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > DNS1123_SUBDOMAIN_MAX) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX));
  if (!SUBDOMAIN_RE.test(value)) errs.push(DNS1123_SUBDOMAIN_MESSAGE);
  return errs;
}

/** True when every dot-separated label is at most 63 characters (DNS's limit, RFC 1035). */
export function labelsWithinLimit(value: string): boolean {
  return value.split('.').every((l) => l.length <= DNS1123_LABEL_MAX);
}

/** apimachinery `IsWildcardDNS1123Subdomain` (value must start with `*.`). */
export function wildcardSubdomainErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > DNS1123_SUBDOMAIN_MAX) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX));
  if (!value.startsWith('*.') || !SUBDOMAIN_RE.test(value.slice(2))) errs.push(WILDCARD_SUBDOMAIN_MESSAGE);
  return errs;
}
