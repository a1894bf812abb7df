import { commonLabels } from './names.js';
import type { KubeObject } from './types.js';

/** The control namespace. It enforces the "restricted" Pod Security Standard, which meshgate's own pods meet. */
export function controlNamespace(namespace: string, meshName: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: namespace,
      labels: {
        ...commonLabels(meshName),
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/warn': 'restricted',
      },
    },
  };
}
