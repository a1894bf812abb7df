/**
 * Network interface names meshgate can exclude from interception: one rule shared by the MeshConfig
 * validator (policy/), the injector's annotation checks and the interception script's renderer.
 */
// What the kernel accepts as an interface name (dev_valid_name: 1-15 bytes), narrowed to characters
// that are inert in a shell heredoc and in iptables-restore input; no leading `-` (an option) or `+`.
// A trailing `+` is iptables' prefix wildcard.
const INTERFACE = /^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,14}$/;

/** The one rule for interface names, shared by the MeshConfig validator, the injector and the renderer. */
export const INTERFACE_NAME_RULE = '1-15 characters from A-Z a-z 0-9 _ . @ + -, not starting with - . + or @';

/**
 * Why `name` cannot be used as an excluded interface in the interception rules, or undefined when
 * it can. The injector calls this while validating, so such a name denies the pod with a message
 * instead of reaching the renderer (which throws on it).
 */
export function interfaceNameProblem(name: string): string | undefined {
  if (typeof name !== 'string' || !INTERFACE.test(name) || name === '.' || name === '..') {
    return `is not a network interface name meshgate can exclude (${INTERFACE_NAME_RULE})`;
  }
  return undefined;
}
