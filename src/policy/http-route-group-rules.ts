import type { MeshState } from '../state/mesh-state.js';
import type { AdmissionInput, ValidationOutcome } from '../vocabulary/admission.js';
import { fieldError, type FieldError } from '../vocabulary/field-errors.js';
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
  if (!parsed.success) errors.push(...zodIssuesToFieldErrors(parsed.error.issues, obj, httpRouteGroupSchema));
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
    const headers = asRecord(r.headers);
    if (headers) {
      for (const [header, value] of Object.entries(headers)) {
        if (!HEADER_NAME_RE.test(header)) {
          errors.push(fieldError.invalid(`${f}.headers`, header, "must be an HTTP header name: letters, digits and !#$%&'*+-.^_`|~"));
        }
        if (!isString(value)) continue;
        const detail = re2Error(value);
        if (detail) errors.push(fieldError.invalid(`${f}.headers[${header}]`, value, detail));
      }
    }
  });
  return { errors, warnings: [] };
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
