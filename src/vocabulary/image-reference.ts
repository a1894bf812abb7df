/**
 * Container image references, by the grammar of github.com/distribution/reference (what the
 * kubelet and container runtimes parse): [domain[:port]/]path[:tag][@digest], lower-case path.
 * Compiled once at module load.
 */
const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6_HOST = '\\[[a-fA-F0-9:]+\\]';
const DOMAIN = `(?:${DOMAIN_NAME}|${IPV6_HOST})(?::[0-9]+)?`;
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE_RE = new RegExp(`^(${NAME})(?::${TAG})?(?:@${DIGEST})?$`);
const NAME_TOTAL_MAX = 255;

/** The detail of an Invalid error, or undefined for a valid reference. */
export function imageReferenceError(ref: string): string | undefined {
  const m = REFERENCE_RE.exec(ref);
  if (m) {
    return m[1]!.length > NAME_TOTAL_MAX ? `repository name must not be more than ${NAME_TOTAL_MAX} characters` : undefined;
  }
  if (ref.trim() !== ref) return 'must be an image reference without surrounding whitespace';
  const lower = lowerCasePath(ref);
  if (lower !== ref && REFERENCE_RE.test(lower)) return `repository name must be lower case: use "${lower}"`;
  return 'must be an image reference such as "envoyproxy/envoy:v1.34.1" or "registry.example.com/init@sha256:<hex>"';
}

/** Lower-cases the repository path, leaving the registry host, tag and digest alone. */
function lowerCasePath(ref: string): string {
  const at = ref.indexOf('@');
  const beforeDigest = at < 0 ? ref : ref.slice(0, at);
  const digest = at < 0 ? '' : ref.slice(at);
  const lastSlash = beforeDigest.lastIndexOf('/');
  const colon = beforeDigest.indexOf(':', lastSlash + 1);
  const name = colon < 0 ? beforeDigest : beforeDigest.slice(0, colon);
  const tag = colon < 0 ? '' : beforeDigest.slice(colon);
  const firstSlash = name.indexOf('/');
  const first = firstSlash < 0 ? '' : name.slice(0, firstSlash);
  // The first component is a registry host when it has a '.', a ':' or is localhost (as in docker).
  const isDomain = firstSlash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const lowered = isDomain ? `${first}${name.slice(firstSlash).toLowerCase()}` : name.toLowerCase();
  return `${lowered}${tag}${digest}`;
}
