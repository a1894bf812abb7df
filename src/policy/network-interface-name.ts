import { INTERFACE_NAME_RULE, interfaceNameProblem } from '../vocabulary/interface-name.js';

/**
 * Network interface names in `traffic.networkInterfaceExclusionList`: the same rule the injector and
 * the interception script apply, so a MeshConfig that validates can never make injection fail.
 */
export function interfaceNameError(name: string): string | undefined {
  return interfaceNameProblem(name) ? `must be a network interface name meshgate can exclude: ${INTERFACE_NAME_RULE}` : undefined;
}
