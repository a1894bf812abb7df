import type { MeshState } from '../state/mesh-state.js';
import type { EgressRef, ObjectRef } from '../state/types.js';
import { HTTP_ROUTE_GROUP_API_VERSION } from '../profile.js';
import type { AdmissionInput, ValidationOutcome } from '../vocabulary/admission.js';
import { EGRESS_PROTOCOLS, normalizeProtocol, type EgressProtocol } from '../vocabulary/egress-protocol.js';
import { cidrErrorDetail, cidrFamily } from './cidr.js';
import { dns1123LabelErrors, dns1123SubdomainErrors } from './dns-names.js';
import { egressSchema } from './egress-schema.js';
import { fieldError, quote, type FieldError } from '../vocabulary/field-errors.js';
import { hostErrors } from './hosts.js';
import { cleanWarning, controlNamespaceWarnings, meshConfigEgressWarnings, namespaceMembershipWarning } from './mesh-warnings.js';
import { objectMetaErrors } from './object-meta.js';
import { asArray, asRecord, isInt, isString, type RawRecord } from './raw-values.js';
import { serverFirstAcrossPolicies, serverFirstWithinPolicy, type PortEntry } from './server-first.js';
import { zodIssuesToFieldErrors } from './zod-field-errors.js';

const PROTOCOLS: readonly string[] = EGRESS_PROTOCOLS;
const SERVICE_ACCOUNT = 'ServiceAccount';
const HTTP_ROUTE_GROUP = 'HTTPRouteGroup';
const UPSTREAM_TRAFFIC_SETTING = 'UpstreamTrafficSetting';

/** Egress CREATE/UPDATE in either policy group (SPEC §3). DELETE has nothing to check. */
export function validateEgress(input: AdmissionInput, state: MeshState): ValidationOutcome {
  if (input.operation === 'DELETE' || input.operation === 'CONNECT') return { errors: [], warnings: [] };
  const obj: unknown = input.object ?? {};
  const errors: FieldError[] = objectMetaErrors(obj);
  const parsed = egressSchema.safeParse(obj);
  if (!parsed.success) errors.push(...zodIssuesToFieldErrors(parsed.error.issues, obj, egressSchema));

  const spec = asRecord(asRecord(obj)?.spec);
  if (!spec) return { errors, warnings: [] };
  const meta = asRecord(asRecord(obj)?.metadata);
  const namespace = input.namespace || (isString(meta?.namespace) ? meta.namespace : '');
  const name = input.name || (isString(meta?.name) ? meta.name : '');
  const self: EgressRef = { group: input.kind.group, namespace, name };

  const warnings: string[] = [];
  const sources = checkSources(spec, errors);
  const ports = checkPorts(spec, errors, warnings);
  // Read as OSM reads it: `HTTP` is an http port for every rule below (SPEC §3).
  const declares = (protocol: EgressProtocol) => asArray(spec.ports).some((p) => normalizeProtocol(asRecord(p)?.protocol) === protocol);
  const hasHttp = declares('http');
  const hasHttps = declares('https');

  const hostCount = checkHosts(spec, errors);
  if (hasHttp && hostCount === 0) errors.push(fieldError.required('spec.hosts', 'an "http" port needs at least one host'));
  if (hostCount > 0 && ports.length > 0 && !hasHttp && !hasHttps) {
    warnings.push('spec.hosts is ignored: no port in spec.ports is "http" or "https"');
  }
  if (hasHttps && hostCount === 0) warnings.push('an "https" port with no spec.hosts matches any TLS server name (SNI)');

  checkIpAddresses(spec, errors);
  checkMatches(spec, hasHttp, input.kind, namespace, state, errors);

  errors.push(...serverFirstWithinPolicy(ports));
  errors.push(...serverFirstAcrossPolicies(self, sources, ports, state));

  for (const ns of new Set([namespace, ...sources.map((s) => s.namespace)])) {
    const w = ns ? namespaceMembershipWarning(state, ns) : undefined;
    if (w) warnings.push(w);
  }
  warnings.push(...controlNamespaceWarnings(state, namespace, sources.map((s) => s.namespace)));
  warnings.push(...meshConfigEgressWarnings(state));
  // Said only of a policy that will be stored, so a denial's output stays about the errors.
  return { errors, warnings: warnings.map(cleanWarning) };
}

/** Returns the well-formed ServiceAccount sources (for the server-first index look-ups). */
function checkSources(spec: RawRecord, errors: FieldError[]): ObjectRef[] {
  const raw = spec.sources;
  if (Array.isArray(raw) && raw.length === 0) errors.push(fieldError.required('spec.sources'));
  const out: ObjectRef[] = [];
  asArray(raw).forEach((s, i) => {
    const r = asRecord(s);
    if (!r) return;
    const f = `spec.sources[${i}]`;
    let ok = true;
    if (isString(r.kind)) {
      if (r.kind === '') errors.push(fieldError.required(`${f}.kind`));
      else if (r.kind !== SERVICE_ACCOUNT) errors.push(fieldError.notSupported(`${f}.kind`, r.kind, [SERVICE_ACCOUNT]));
      ok = r.kind === SERVICE_ACCOUNT;
    } else ok = false;
    for (const key of ['name', 'namespace'] as const) {
      const v = r[key];
      if (!isString(v)) {
        ok = false;
        continue;
      }
      if (v === '') {
        errors.push(fieldError.required(`${f}.${key}`));
        ok = false;
        continue;
      }
      const msgs = dns1123LabelErrors(v);
      for (const m of msgs) errors.push(fieldError.invalid(`${f}.${key}`, v, m));
      if (msgs.length > 0) ok = false;
    }
    if (ok) out.push({ namespace: r.namespace as string, name: r.name as string });
  });
  return out;
}

/**
 * Returns the well-formed, distinct ports (for the server-first checks), their protocols in lower
 * case. A protocol in another case (`HTTP`) is accepted with a warning, as OSM accepts it.
 */
function checkPorts(spec: RawRecord, errors: FieldError[], warnings: string[]): PortEntry[] {
  const raw = spec.ports;
  if (Array.isArray(raw) && raw.length === 0) errors.push(fieldError.required('spec.ports'));
  const out: PortEntry[] = [];
  const seen = new Set<string>();
  asArray(raw).forEach((p, i) => {
    const r = asRecord(p);
    if (!r) return;
    const f = `spec.ports[${i}]`;
    let numberOk = false;
    if (isInt(r.number)) {
      if (r.number < 1 || r.number > 65535) errors.push(fieldError.invalid(`${f}.number`, r.number, 'must be between 1 and 65535, inclusive'));
      else numberOk = true;
    }
    let protocol: EgressProtocol | undefined;
    if (isString(r.protocol)) {
      protocol = normalizeProtocol(r.protocol);
      if (r.protocol === '') errors.push(fieldError.required(`${f}.protocol`));
      else if (!protocol) errors.push(fieldError.notSupported(`${f}.protocol`, r.protocol, PROTOCOLS));
      else if (protocol !== r.protocol) warnings.push(protocolCaseWarning(`${f}.protocol`, r.protocol, protocol));
    }
    if (!numberOk || !protocol) return;
    const entry: PortEntry = { index: i, number: r.number as number, protocol, written: r.protocol as string };
    const k = `${entry.number}/${entry.protocol}`;
    if (seen.has(k)) {
      errors.push(fieldError.duplicate(f, { number: entry.number, protocol: entry.written }));
      return;
    }
    seen.add(k);
    out.push(entry);
  });
  return out;
}

/** One short line: the value is one of EGRESS_PROTOCOLS in another case, so at most 18 characters. */
export function protocolCaseWarning(field: string, written: string, protocol: EgressProtocol): string {
  return `${field}: ${quote(written)} is read as ${quote(protocol)}; write it in lower case`;
}

/** Returns how many hosts are listed (valid or not). */
function checkHosts(spec: RawRecord, errors: FieldError[]): number {
  const hosts = asArray(spec.hosts);
  const seen = new Set<string>();
  hosts.forEach((h, i) => {
    if (!isString(h)) return;
    const f = `spec.hosts[${i}]`;
    const msgs = hostErrors(h);
    for (const m of msgs) errors.push(fieldError.invalid(f, h, m));
    if (msgs.length === 0) {
      if (seen.has(h)) errors.push(fieldError.duplicate(f, h));
      seen.add(h);
    }
  });
  return hosts.length;
}

function checkIpAddresses(spec: RawRecord, errors: FieldError[]): void {
  const seen = new Set<string>();
  asArray(spec.ipAddresses).forEach((a, i) => {
    if (!isString(a)) return;
    const f = `spec.ipAddresses[${i}]`;
    if (!cidrFamily(a)) {
      errors.push(fieldError.invalid(f, a, cidrErrorDetail(a)));
      return;
    }
    if (seen.has(a)) errors.push(fieldError.duplicate(f, a));
    seen.add(a);
  });
}

function checkMatches(
  spec: RawRecord,
  hasHttp: boolean,
  policy: { group: string; version: string },
  namespace: string,
  state: MeshState,
  errors: FieldError[],
): void {
  const matches = asArray(spec.matches);
  if (matches.length === 0) return;
  if (!hasHttp) {
    errors.push(fieldError.forbidden('spec.matches', 'matches apply only to "http" ports: add an "http" port to spec.ports or remove spec.matches'));
  }
  // The UpstreamTrafficSetting is the policy's own group's (OSM reads only its own group's).
  const apiGroups = [HTTP_ROUTE_GROUP_API_VERSION, `${policy.group}/${policy.version}`];
  const kindFor = (apiGroup: string) => (apiGroup === HTTP_ROUTE_GROUP_API_VERSION ? HTTP_ROUTE_GROUP : UPSTREAM_TRAFFIC_SETTING);
  let firstUpstreamSetting: number | undefined;
  const seen = new Set<string>();
  matches.forEach((m, i) => {
    const r = asRecord(m);
    if (!r) return;
    const f = `spec.matches[${i}]`;
    let apiGroup: string | undefined;
    if (isString(r.apiGroup)) {
      if (r.apiGroup === '') errors.push(fieldError.required(`${f}.apiGroup`));
      else if (!apiGroups.includes(r.apiGroup)) errors.push(fieldError.notSupported(`${f}.apiGroup`, r.apiGroup, apiGroups));
      else apiGroup = r.apiGroup;
    }
    let kind: string | undefined;
    if (isString(r.kind)) {
      const allowed = apiGroup ? [kindFor(apiGroup)] : [HTTP_ROUTE_GROUP, UPSTREAM_TRAFFIC_SETTING];
      if (r.kind === '') errors.push(fieldError.required(`${f}.kind`));
      else if (!allowed.includes(r.kind)) errors.push(fieldError.notSupported(`${f}.kind`, r.kind, allowed));
      else kind = r.kind;
    }
    let name: string | undefined;
    if (isString(r.name)) {
      const msgs = r.name === '' ? [] : dns1123SubdomainErrors(r.name);
      if (r.name === '') errors.push(fieldError.required(`${f}.name`));
      for (const msg of msgs) errors.push(fieldError.invalid(`${f}.name`, r.name, msg));
      if (r.name !== '' && msgs.length === 0) name = r.name;
    }
    if (!apiGroup || !kind || !name) return;

    const k = `${kind}/${name}`;
    if (seen.has(k)) {
      errors.push(fieldError.duplicate(f, { apiGroup, kind, name }));
      return;
    }
    seen.add(k);
    if (kind === UPSTREAM_TRAFFIC_SETTING) {
      if (firstUpstreamSetting !== undefined) {
        errors.push(
          fieldError.invalid(`${f}.kind`, kind, `at most one UpstreamTrafficSetting may be referenced; spec.matches[${firstUpstreamSetting}] already is one`),
        );
        return;
      }
      firstUpstreamSetting = i;
    }
    const exists = kind === HTTP_ROUTE_GROUP ? state.httpRouteGroup(namespace, name) : state.upstreamTrafficSetting(namespace, name, policy.group);
    if (!exists) errors.push(fieldError.notFound(`${f}.name`, name));
  });
}
