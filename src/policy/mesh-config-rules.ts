import type { MeshState } from '../state/mesh-state.js';
import type { AdmissionInput, ValidationOutcome } from '../vocabulary/admission.js';
import { cidrErrorDetail, cidrFamily } from './cidr.js';
import { fieldError, type FieldError } from '../vocabulary/field-errors.js';
import { imageReferenceError } from '../vocabulary/image-reference.js';
import { LOCAL_PROXY_MODES, meshConfigSchema, SIDECAR_IMAGE_FIELDS, SIDECAR_LOG_LEVELS } from './mesh-config-schema.js';
import { cleanWarning } from './mesh-warnings.js';
import { interfaceNameError } from './network-interface-name.js';
import { asArray, asRecord, isInt, isString, type RawRecord } from './raw-values.js';
import { zodIssuesToFieldErrors } from './zod-field-errors.js';

const LOG_LEVELS: readonly string[] = SIDECAR_LOG_LEVELS;
const PROXY_MODES: readonly string[] = LOCAL_PROXY_MODES;

/** MeshConfig CREATE/UPDATE (SPEC §3): the fields that reach the sidecar and the interception rules. */
export function validateMeshConfig(input: AdmissionInput, state: MeshState): ValidationOutcome {
  if (input.operation === 'DELETE' || input.operation === 'CONNECT') return { errors: [], warnings: [] };
  const obj: unknown = input.object ?? {};
  const errors: FieldError[] = [];
  const parsed = meshConfigSchema.safeParse(obj);
  if (!parsed.success) errors.push(...zodIssuesToFieldErrors(parsed.error.issues, obj, meshConfigSchema));
  const spec = asRecord(asRecord(obj)?.spec) ?? {};

  const sidecar = asRecord(spec.sidecar);
  if (sidecar) checkSidecar(sidecar, errors);
  const traffic = asRecord(spec.traffic);
  if (traffic) checkTraffic(traffic, errors);
  return { errors, warnings: meshConfigWarnings(input, spec, state).map(cleanWarning) };
}

function checkSidecar(sidecar: RawRecord, errors: FieldError[]): void {
  const f = 'spec.sidecar';
  if (isString(sidecar.logLevel) && !LOG_LEVELS.includes(sidecar.logLevel)) {
    errors.push(fieldError.notSupported(`${f}.logLevel`, sidecar.logLevel, LOG_LEVELS));
  }
  if (isString(sidecar.localProxyMode) && !PROXY_MODES.includes(sidecar.localProxyMode)) {
    errors.push(fieldError.notSupported(`${f}.localProxyMode`, sidecar.localProxyMode, PROXY_MODES));
  }
  checkImages(sidecar, f, errors);
  // FSM lists per-driver images too.
  asArray(sidecar.sidecarDrivers).forEach((d, i) => {
    const r = asRecord(d);
    if (r) checkImages(r, `${f}.sidecarDrivers[${i}]`, errors);
  });
}

/** An empty image means "meshgate's default", as OSM treats it. */
function checkImages(holder: RawRecord, f: string, errors: FieldError[]): void {
  for (const key of SIDECAR_IMAGE_FIELDS) {
    const v = holder[key];
    if (!isString(v) || v === '') continue;
    const detail = imageReferenceError(v);
    if (detail) errors.push(fieldError.invalid(`${f}.${key}`, v, detail));
  }
}

function checkTraffic(traffic: RawRecord, errors: FieldError[]): void {
  const f = 'spec.traffic';
  for (const key of ['outboundIPRangeExclusionList', 'outboundIPRangeInclusionList'] as const) {
    asArray(traffic[key]).forEach((v, i) => {
      if (isString(v) && !cidrFamily(v)) errors.push(fieldError.invalid(`${f}.${key}[${i}]`, v, cidrErrorDetail(v)));
    });
  }
  for (const key of ['outboundPortExclusionList', 'inboundPortExclusionList'] as const) {
    asArray(traffic[key]).forEach((v, i) => {
      if (isInt(v) && (v < 1 || v > 65535)) errors.push(fieldError.invalid(`${f}.${key}[${i}]`, v, 'must be between 1 and 65535, inclusive'));
    });
  }
  asArray(traffic.networkInterfaceExclusionList).forEach((v, i) => {
    const detail = isString(v) ? interfaceNameError(v) : undefined;
    if (detail) errors.push(fieldError.invalid(`${f}.networkInterfaceExclusionList[${i}]`, v, detail));
  });
}

function meshConfigWarnings(input: AdmissionInput, spec: RawRecord, state: MeshState): string[] {
  const want = state.profile.meshConfig;
  const meta = asRecord(asRecord(input.object)?.metadata);
  const name = input.name || (isString(meta?.name) ? meta.name : '');
  const namespace = input.namespace || (isString(meta?.namespace) ? meta.namespace : '');
  if (input.kind.group !== want.group || name !== want.name || namespace !== state.profile.controlNamespace) {
    return [`this mesh reads only MeshConfig ${state.profile.controlNamespace}/${want.name} (${want.group}); this one has no effect`];
  }
  if (asRecord(spec.traffic)?.enableEgress === true) {
    return ['traffic.enableEgress is true: meshed pods may reach any destination and Egress policies restrict nothing (osm#5335)'];
  }
  return [];
}
