import { stringify } from 'yaml';
import type { KubeObject } from './types.js';

/** Multi-document YAML for `kubectl apply -f -`. YAML 1.1 quoting, so kubectl (a YAML 1.1 reader) never reads a string such as "off" as a boolean. */
export function toMultiDocumentYaml(objects: readonly KubeObject[]): string {
  return objects.map((o) => `---\n${stringify(o, { lineWidth: 0, version: '1.1', aliasDuplicateObjects: false })}`).join('');
}
