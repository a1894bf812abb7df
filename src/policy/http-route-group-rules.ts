import type { MeshState } from '../state/mesh-state.js';
import type { AdmissionInput, ValidationOutcome } from '../vocabulary/admission.js';
import { fieldError, formatValue, type FieldError } from '../vocabulary/field-errors.js';
import { renderPath, valueAt, type PathSegment } from './field-path.js';
import { HTTP_METHODS, httpRouteGroupSchema } from './http-route-group-schema.js';
import { cleanWarning } from './mesh-warnings.js';
import { objectMetaErrors } from './object-meta.js';
import { asArray, asRecord, isString } from './raw-values.js';
import { re2Error } from '../vocabulary/re2-regex.js';
import { zodIssuesToFieldErrors } from './zod-field-errors.js';

const METHODS: readonly string[] = HTTP_METHODS;
/** RFC 9110 token: what an HTTP header name may contain. */
const HEADER_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** HTTPRouteGroup CREATE/UPDATE (SPEC §3) and DELETE (a warning while Egresses still reference it). */
export function validateHttpRouteGroup(input: AdmissionInput, state: MeshState): ValidationOutcome {
  if (input.operation === 'DELETE') return { errors: [], warnings: deleteWarnings(input, state) };
  if (input.operation === 'CONNECT') return { errors: [], warnings: [] };
  const obj: unknown = input.object ?? {};
  const errors: FieldError[] = objectMetaErrors(obj);
  const parsed = httpRouteGroupSchema.safeParse(obj);
  if (!parsed.success) {
    // A headers map (as SMI's spec prose shows it; OSM's CRD rejects it) gets its own error below, naming the list to write.
    const issues = parsed.error.issues.filter((i) => !isHeadersObjectIssue(i.path as PathSegment[], obj));
    errors.push(...zodIssuesToFieldErrors(issues, obj, httpRouteGroupSchema));
  }
  const spec = asRecord(asRecord(obj)?.spec);
  if (!spec) return { errors, warnings: [] };

  const matches = spec.matches;
  if (Array.isArray(matches) && matches.length === 0) errors.push(fieldError.required('spec.matches'));
  const names = new Set<string>();
  asArray(matches).forEach((m, i) => {
    const r = asRecord(m);
    if (!r) return;
    const f = `spec.matches[${i}]`;
    if (isString(r.name)) {
      if (r.name === '') errors.push(fieldError.required(`${f}.name`));
      else if (names.has(r.name)) errors.push(fieldError.duplicate(`${f}.name`, r.name));
      names.add(r.name);
    }
    asArray(r.methods).forEach((method, j) => {
      if (isString(method) && !METHODS.includes(method)) errors.push(fieldError.notSupported(`${f}.methods[${j}]`, method, METHODS));
    });
    if (isString(r.pathRegex)) {
      const detail = re2Error(r.pathRegex);
      if (detail) errors.push(fieldError.invalid(`${f}.pathRegex`, r.pathRegex, detail));
    }
    checkHeaders(r.headers, ['spec', 'matches', i, 'headers'], errors);
  });
  return { errors, warnings: [] };
}

/**
 * `headers` in SMI's wire form: a list of single-key maps, each a header name and an RE2 regex its
 * value must match. Names are HTTP tokens in any case (Envoy compares them case-insensitively, and
 * OSM passes them as written); a name given twice, in any case, is a Duplicate (smi-sdk-go's map
 * would keep only the last). Fields: `spec.matches[0].headers[1]` for the item and its name,
 * `spec.matches[0].headers[1].user-agent` for a value.
 */
function checkHeaders(raw: unknown, path: PathSegment[], errors: FieldError[]): void {
  const field = renderPath(path);
  const asMap = asRecord(raw);
  if (asMap) {
    // OSM's CRD (type: array) rejects this at the API server; say how to write it as a list.
    const list = Object.entries(asMap).map(([k, v]) => ({ [k]: v }));
    errors.push(fieldError.typeInvalid(field, raw, `must be a list of single-key maps, one header each (SMI's form): use ${formatValue(list)}`));
    return;
  }
  const seen = new Set<string>();
  asArray(raw).forEach((item, j) => {
    const r = asRecord(item);
    if (!r) return; // zod reported the type
    const itemField = `${field}[${j}]`;
    const entries = Object.entries(r);
    // smi-sdk-go fails the whole object on two or more (so OSM drops the route group) and skips an empty item.
    if (entries.length > 1) {
      errors.push(fieldError.invalid(itemField, item, 'must have exactly one header name and value (smi-sdk-go: incorrect length of keyval)'));
    } else if (entries.length === 0) {
      errors.push(fieldError.invalid(itemField, item, 'must have exactly one header name and value'));
    }
    for (const [name, value] of entries) {
      if (!HEADER_NAME_RE.test(name)) {
        errors.push(fieldError.invalid(itemField, name, "must be an HTTP header name: letters, digits and !#$%&'*+-.^_`|~"));
      } else if (seen.has(name.toLowerCase())) {
        errors.push(fieldError.duplicate(itemField, name));
      }
      seen.add(name.toLowerCase());
      if (!isString(value)) continue; // zod reported the type
      const detail = re2Error(value);
      if (detail) errors.push(fieldError.invalid(renderPath([...path, j, name]), value, detail));
    }
  });
}

/** zod's "must be a list" for `spec.matches[i].headers` holding a map: replaced by checkHeaders' error. */
function isHeadersObjectIssue(path: PathSegment[], obj: unknown): boolean {
  return path.length === 4 && path[0] === 'spec' && path[1] === 'matches' && path[3] === 'headers' && asRecord(valueAt(obj, path)) !== undefined;
}

/** Deleting a referenced route group is allowed (denying would wedge namespace deletion), with a warning. */
function deleteWarnings(input: AdmissionInput, state: MeshState): string[] {
  const meta = asRecord(asRecord(input.oldObject)?.metadata);
  const name = input.name || (isString(meta?.name) ? meta.name : '');
  const namespace = input.namespace || (isString(meta?.namespace) ? meta.namespace : '');
  if (!name) return [];
  const refs = state.egressesReferencing(namespace, 'HTTPRouteGroup', name);
  if (refs.length === 0) return [];
  const names = [...new Set(refs.map((r) => r.name))].sort();
  const shown = names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
  return [
    cleanWarning(
      `HTTPRouteGroup ${namespace}/${name} is still referenced by Egress ${shown}; their spec.matches now name a missing route group`,
    ),
  ];
}
