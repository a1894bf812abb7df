import { fieldError, type FieldError } from '../vocabulary/field-errors.js';
import { dns1123SubdomainErrors } from './dns-names.js';
import { asRecord, isString } from './raw-values.js';

/**
 * metadata.name, as apimachinery's ValidateObjectMeta checks it for custom resources: a name or a
 * generateName is required, and a name is a DNS-1123 subdomain. Offline (`meshgate validate`) the
 * API server is not there to check it first.
 */
export function objectMetaErrors(obj: unknown): FieldError[] {
  const meta = asRecord(asRecord(obj)?.metadata);
  const name = meta?.name;
  const generateName = meta?.generateName;
  if (isString(name) && name !== '') {
    return dns1123SubdomainErrors(name).map((msg) => fieldError.invalid('metadata.name', name, msg));
  }
  if (isString(generateName) && generateName !== '') return [];
  return [fieldError.required('metadata.name', 'name or generateName is required')];
}
