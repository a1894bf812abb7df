import { OUTBOUND_PORT, PROXY_UID, type Profile } from '../profile.js';
import type { IptablesBackend } from '../settings.js';
import type { Exclusions } from './exclusions.js';
import { renderInterceptionScript, type InterceptionOptions } from './iptables/script.js';
import type { Container } from './pod.js';

/** The interception script's inputs for one pod (SPEC §5). */
export function interceptionOptions(
  profile: Profile,
  clusterCIDRs: string[],
  exclusions: Exclusions,
  backend: IptablesBackend,
): InterceptionOptions {
  return {
    chainPrefix: profile.chainPrefix,
    proxyUid: PROXY_UID,
    outboundPort: OUTBOUND_PORT,
    clusterCIDRs: [...clusterCIDRs],
    excludeCIDRs: [...exclusions.excludeCIDRs.ipv4, ...exclusions.excludeCIDRs.ipv6],
    includeCIDRs: [...exclusions.includeCIDRs.ipv4, ...exclusions.includeCIDRs.ipv6],
    excludePorts: [...exclusions.excludePorts],
    excludeInterfaces: [...exclusions.excludeInterfaces],
    backend,
  };
}

export interface InitContainerOptions {
  name: string;
  image: string;
  interception: InterceptionOptions;
  /** MeshConfig `sidecar.enablePrivilegedInitContainer`. */
  privileged: boolean;
}

/**
 * The iptables init container: root with NET_ADMIN and NET_RAW only (everything else dropped),
 * privileged only when the MeshConfig asks (some CNIs / SELinux hosts need it).
 */
export function buildInitContainer(o: InitContainerOptions): Container {
  const securityContext: Container['securityContext'] = {
    runAsUser: 0,
    runAsNonRoot: false,
    capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
  };
  // Kubernetes rejects privileged together with allowPrivilegeEscalation: false.
  if (o.privileged) securityContext.privileged = true;
  else securityContext.allowPrivilegeEscalation = false;
  return {
    name: o.name,
    image: o.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/sh', '-c', renderInterceptionScript(o.interception)],
    securityContext,
  };
}
