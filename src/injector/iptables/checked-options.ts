import { IPTABLES_BACKENDS, type IptablesBackend } from '../../settings.js';
import { splitByFamily, type CidrsByFamily } from './cidr-families.js';
import { InterceptionOptionError } from './option-error.js';
import { interfaceNameProblem } from '../../vocabulary/interface-name.js';
import type { InterceptionOptions } from './script.js';

/** InterceptionOptions after the renderer's own checks: every value is safe to put in the script. */
export interface CheckedInterceptionOptions {
  outboundChain: string;
  redirectChain: string;
  proxyUid: number;
  outboundPort: number;
  clusterCIDRs: CidrsByFamily;
  excludeCIDRs: CidrsByFamily;
  includeCIDRs: CidrsByFamily;
  /** True when an inclusion list was given at all (even if it holds only the other family). */
  hasInclusionList: boolean;
  excludePorts: number[];
  excludeInterfaces: string[];
  backend: IptablesBackend;
}

// Chain names are at most 28 characters; the longest suffix is PROXY_OUT_REDIRECT (18).
const CHAIN_PREFIX = /^[A-Z][A-Z0-9]{0,8}_$/;
const MAX_UID = 4294967294;

export function checkInterceptionOptions(o: InterceptionOptions): CheckedInterceptionOptions {
  if (typeof o.chainPrefix !== 'string' || !CHAIN_PREFIX.test(o.chainPrefix)) {
    throw new InterceptionOptionError('chainPrefix', o.chainPrefix, 'must be 2-10 upper-case letters or digits ending in "_", e.g. "OSM_"');
  }
  if (!Number.isInteger(o.proxyUid) || o.proxyUid < 0 || o.proxyUid > MAX_UID) {
    throw new InterceptionOptionError('proxyUid', o.proxyUid, `must be an integer between 0 and ${MAX_UID}`);
  }
  const excludePorts = uniqueSorted(list(o.excludePorts, 'excludePorts').map((p, i) => checkPort(p, `excludePorts[${i}]`)));
  const excludeInterfaces = [...new Set(list(o.excludeInterfaces, 'excludeInterfaces'))];
  excludeInterfaces.forEach((name, i) => {
    const problem = interfaceNameProblem(name);
    if (problem) throw new InterceptionOptionError(`excludeInterfaces[${i}]`, name, problem);
  });
  if (!(IPTABLES_BACKENDS as readonly string[]).includes(o.backend)) {
    throw new InterceptionOptionError('backend', o.backend, `must be one of ${IPTABLES_BACKENDS.join(', ')}`);
  }
  const includeList = list(o.includeCIDRs, 'includeCIDRs');
  return {
    outboundChain: `${o.chainPrefix}PROXY_OUTBOUND`,
    redirectChain: `${o.chainPrefix}PROXY_OUT_REDIRECT`,
    proxyUid: o.proxyUid,
    outboundPort: checkPort(o.outboundPort, 'outboundPort'),
    clusterCIDRs: splitByFamily(list(o.clusterCIDRs, 'clusterCIDRs'), 'clusterCIDRs'),
    excludeCIDRs: splitByFamily(list(o.excludeCIDRs, 'excludeCIDRs'), 'excludeCIDRs'),
    includeCIDRs: splitByFamily(includeList, 'includeCIDRs'),
    hasInclusionList: includeList.length > 0,
    excludePorts,
    excludeInterfaces,
    backend: o.backend,
  };
}

function list<T>(value: readonly T[] | undefined, field: string): readonly T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InterceptionOptionError(field, value, 'is not a list');
  return value;
}

function checkPort(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new InterceptionOptionError(field, value, 'must be a port number between 1 and 65535');
  }
  return value;
}

function uniqueSorted(ports: number[]): number[] {
  return [...new Set(ports)].sort((a, b) => a - b);
}
