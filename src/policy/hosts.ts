import { quote } from '../vocabulary/field-errors.js';
import { cidrFamily, ipFamily } from './cidr.js';
import { dns1123SubdomainErrors, labelsWithinLimit, wildcardSubdomainErrors } from './dns-names.js';

const SCHEME_RE = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//;

/**
 * Checks one Egress host: a DNS name with an optional leading `*.` label. Returns the details of
 * an Invalid error (empty when valid); each detail says what to write instead, because the usual
 * mistakes are a URL, a host:port or an IP address pasted where a host name belongs.
 */
export function hostErrors(host: string): string[] {
  if (host.length === 0) return ['must be a DNS name such as "httpbin.org"'];
  if (cidrFamily(host)) return [`a CIDR is not a host name: put it in spec.ipAddresses`];

  let rest = host;
  const fixes: string[] = [];
  const scheme = SCHEME_RE.exec(rest);
  if (scheme) {
    fixes.push('remove the scheme');
    rest = rest.slice(scheme[0].length);
  }
  const pathAt = rest.search(/[/?#]/);
  if (pathAt >= 0) {
    fixes.push('remove the path');
    rest = rest.slice(0, pathAt);
  }
  let name = rest;
  let hasPort = false;
  const bracketed = /^\[([^\]]*)\](?::([0-9]*))?$/.exec(rest);
  if (bracketed) {
    name = bracketed[1]!;
    hasPort = bracketed[2] !== undefined;
  } else if (rest.indexOf(':') >= 0 && rest.indexOf(':') === rest.lastIndexOf(':')) {
    const colon = rest.indexOf(':');
    hasPort = /^[0-9]*$/.test(rest.slice(colon + 1));
    if (hasPort) name = rest.slice(0, colon);
  }
  if (hasPort) fixes.push('put the port in spec.ports');

  const family = ipFamily(name);
  if (family) {
    return [`an IP address is not a host name: use spec.ipAddresses with a CIDR such as ${quote(`${name}/${family === 'ipv4' ? 32 : 128}`)}`];
  }
  if (fixes.length > 0) return [`${fixes.join(', ')}: use ${quote(name.toLowerCase())}`];

  if (name !== name.toLowerCase() && nameErrors(name.toLowerCase()).length === 0) {
    return [`must be lower case: use ${quote(name.toLowerCase())}`];
  }
  return nameErrors(name);
}

function nameErrors(name: string): string[] {
  const errs = name.includes('*') ? wildcardSubdomainErrors(name) : dns1123SubdomainErrors(name);
  if (errs.length === 0 && !labelsWithinLimit(name)) errs.push('each dot-separated label must be no more than 63 characters');
  return errs;
}
