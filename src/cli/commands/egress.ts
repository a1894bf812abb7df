import type { Command } from 'commander';
import type { EgressSwitches } from '../../cluster/egress-switch.js';
import type { Profile } from '../../profile.js';
import { UserError } from '../errors.js';
import { profileFrom } from '../global-options.js';
import { connectOrFail } from './namespace.js';

const KUBECONFIG_HELP = 'path of the kubeconfig (default: KUBECONFIG, ~/.kube/config, then in-cluster credentials)';

interface EgressOptions {
  kubeconfig?: string;
  policy?: string;
}

function policyFlag(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new UserError(`--policy: unknown value "${value}": use "on" or "off"`);
}

const show = (v: boolean | undefined) => (v === undefined ? 'unset (false)' : String(v));

// Loaded only when an egress command runs (it pulls in @kubernetes/client-node).
const egressSwitch = () => import('../../cluster/egress-switch.js');

function statusLines(profile: Profile, s: EgressSwitches, { describeSwitches, meshConfigName }: Awaited<ReturnType<typeof egressSwitch>>): string {
  return (
    [
      `MeshConfig:          ${meshConfigName(profile)}`,
      `enableEgress:        ${show(s.enableEgress)}   (spec.traffic.enableEgress)`,
      `enableEgressPolicy:  ${show(s.enableEgressPolicy)}   (spec.featureFlags.enableEgressPolicy)`,
      `Effect:              ${describeSwitches(s)}`,
    ].join('\n') + '\n'
  );
}

async function withMeshConfigErrors<T>(run: () => Promise<T>): Promise<T> {
  const { MeshConfigError } = await egressSwitch();
  try {
    return await run();
  } catch (err) {
    if (err instanceof MeshConfigError) throw new UserError(err.message, 1);
    throw err;
  }
}

export function register(program: Command): void {
  const egress = program
    .command('egress')
    .description("switch mesh-wide egress passthrough (the MeshConfig's spec.traffic.enableEgress) and Egress policies");

  const change = (enable: boolean) => async (opts: EgressOptions, cmd: Command) => {
    const profile = profileFrom(cmd);
    const policy = policyFlag(opts.policy);
    const api = await connectOrFail(opts.kubeconfig);
    const { setEgressSwitches, describeSwitches, meshConfigName } = await egressSwitch();
    const after = await withMeshConfigErrors(() =>
      setEgressSwitches(api, profile, { enableEgress: enable, ...(policy !== undefined ? { enableEgressPolicy: policy } : {}) }),
    );
    const parts = [`egress passthrough ${enable ? 'enabled' : 'disabled'}`];
    if (policy !== undefined) parts.push(`Egress policies turned ${policy ? 'on' : 'off'}`);
    process.stdout.write(`MeshConfig [${meshConfigName(profile)}]: ${parts.join(', ')}\n${describeSwitches(after)}\n`);
  };

  egress
    .command('enable')
    .description('set spec.traffic.enableEgress: true — pods in the mesh may reach any external destination')
    .option('--policy <on|off>', 'also set spec.featureFlags.enableEgressPolicy')
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .addHelpText('after', "\nSame as: kubectl patch meshconfig osm-mesh-config -n osm-system -p '{\"spec\":{\"traffic\":{\"enableEgress\":true}}}' --type=merge")
    .action(change(true));

  egress
    .command('disable')
    .description('set spec.traffic.enableEgress: false — external destinations only through Egress policies')
    .option('--policy <on|off>', 'also set spec.featureFlags.enableEgressPolicy')
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .addHelpText('after', "\nSame as: kubectl patch meshconfig osm-mesh-config -n osm-system -p '{\"spec\":{\"traffic\":{\"enableEgress\":false}}}' --type=merge")
    .action(change(false));

  egress
    .command('status')
    .description('print spec.traffic.enableEgress and spec.featureFlags.enableEgressPolicy and what they mean together')
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .action(async (opts: EgressOptions, cmd: Command) => {
      const profile = profileFrom(cmd);
      const api = await connectOrFail(opts.kubeconfig);
      const mod = await egressSwitch();
      const s = await withMeshConfigErrors(() => mod.readEgressSwitches(api, profile));
      process.stdout.write(statusLines(profile, s, mod));
    });
}
