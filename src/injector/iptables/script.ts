import type { IptablesBackend } from '../../settings.js';

/** Everything the interception script depends on (SPEC §5). */
export interface InterceptionOptions {
  /** Chain prefix, `OSM_` or `FSM_`. */
  chainPrefix: string;
  proxyUid: number;
  outboundPort: number;
  /** In-cluster CIDRs (pod and service ranges): return before redirection. */
  clusterCIDRs: string[];
  /** Merged from MeshConfig and pod annotations; already validated. */
  excludeCIDRs: string[];
  /** When non-empty, only these ranges are redirected. */
  includeCIDRs: string[];
  excludePorts: number[];
  /** Interfaces whose outbound traffic is not intercepted. */
  excludeInterfaces: string[];
  backend: IptablesBackend;
}

/** The init container's /bin/sh script. (Being built.) */
export function renderInterceptionScript(_o: InterceptionOptions): string {
  return '#!/bin/sh\nexit 1\n';
}
