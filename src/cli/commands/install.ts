import type { Command } from 'commander';
import { imageRef } from '../../images.js';
import { DEFAULT_IMAGE } from '../../manifests/defaults.js';
import { renderCrds, renderInstall } from '../../manifests/render-install.js';
import { toMultiDocumentYaml } from '../../manifests/yaml-output.js';
import { resolveProfile } from '../../profile.js';
import { UserError } from '../errors.js';
import { profileFrom } from '../global-options.js';

interface InstallFlags {
  crds?: boolean;
  namespace?: string;
  enableEgress?: boolean;
  certManager?: boolean;
  image: string;
  initImage?: string;
  replicas: string;
  bothEgressGroups?: boolean;
}

const DEFAULT_INIT_IMAGE = imageRef('init');
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The install's own flags that change only the main install, never the CRDs. */
const MAIN_INSTALL_FLAGS: readonly [keyof InstallFlags, string][] = [
  ['namespace', '--namespace'],
  ['enableEgress', '--enable-egress'],
  ['certManager', '--cert-manager'],
  ['image', '--image'],
  ['replicas', '--replicas'],
];

/**
 * `meshgate install`: the manifests of an install as multi-document YAML for `kubectl apply -f -`
 * (SPEC §6), in two steps: `--crds` prints only the CRDs; without it, everything else.
 */
export function register(program: Command): void {
  program
    .command('install')
    .summary('print the manifests of an install for `kubectl apply -f -` (the CRDs with --crds, a step of their own)')
    .description(
      [
        'Prints the manifests of an install as multi-document YAML for `kubectl apply -f -`: RBAC, Deployment, Service, ' +
          'PDB, the default MeshConfig and the webhook configurations. The CRDs are a step of their own (--crds), so that ' +
          'deleting the install does not delete the CRDs and with them every Egress, HTTPRouteGroup and MeshConfig.',
        'On a new cluster:\n' +
          '  meshgate install --crds | kubectl apply -f -\n' +
          '  kubectl wait --for condition=established crd -l meshgate.io/component=crds\n' +
          '  meshgate install | kubectl apply -f -',
      ].join('\n\n'),
    )
    .option('--crds', 'print only the CRDs (apply them, and wait until they are established, before the rest)')
    .option('--namespace <ns>', 'control-plane namespace; the same as the global --mesh-namespace (giving both with different values is an error)')
    .option('--enable-egress', 'default MeshConfig allows all egress (traffic.enableEgress: true); Egress policies then restrict nothing')
    .option('--cert-manager', 'certificates from cert-manager (Issuer, Certificate, CA injection) instead of the server-managed Secret')
    .option('--image <ref>', 'server image', DEFAULT_IMAGE)
    .option('--init-image <ref>', `init (iptables) image the injector uses when the MeshConfig names none (default: ${DEFAULT_INIT_IMAGE})`)
    .option('--replicas <n>', 'server replicas (at least 2 keeps pod creation available during disruptions)', '2')
    .option('--both-egress-groups', "with --crds: also the Egress CRD of the other profile's policy group (makes `kubectl get egress` ambiguous)")
    .action((flags: InstallFlags, cmd: Command) => {
      const base = profileFrom(cmd);
      const given = (key: string) => cmd.getOptionValueSource(key) === 'cli';
      if (flags.crds) {
        const extra = MAIN_INSTALL_FLAGS.filter(([key]) => given(key)).map(([, flag]) => flag);
        if (extra.length > 0) {
          throw new UserError(`--crds prints only the CRDs, which ${extra.join(', ')} do${extra.length === 1 ? 'es' : ''} not change: give ${extra.length === 1 ? 'it' : 'them'} to \`meshgate install\` without --crds`);
        }
        process.stdout.write(toMultiDocumentYaml(renderCrds({ profile: base, bothEgressGroups: flags.bothEgressGroups ?? false })));
        return;
      }
      if (flags.bothEgressGroups) {
        throw new UserError('--both-egress-groups changes only the CRDs: use it with --crds (meshgate install --crds --both-egress-groups)');
      }
      // --namespace is install's name for the global --mesh-namespace: one control namespace, never two.
      const meshNamespace = cmd.parent?.getOptionValueSource('meshNamespace') === 'cli' ? (cmd.optsWithGlobals() as { meshNamespace?: string }).meshNamespace : undefined;
      if (flags.namespace !== undefined && meshNamespace !== undefined && flags.namespace !== meshNamespace) {
        throw new UserError(
          `--namespace "${flags.namespace}" and --mesh-namespace "${meshNamespace}" name different control namespaces: they are the same setting, give one`,
        );
      }
      const namespace = flags.namespace ?? base.controlNamespace;
      const profile = resolveProfile(base.name, { meshName: base.meshName, meshNamespace: namespace });
      const nsFlag = flags.namespace !== undefined ? '--namespace' : '--mesh-namespace';
      for (const [flag, value] of [[nsFlag, namespace], ['--mesh-name', profile.meshName]] as const) {
        if (!DNS_LABEL.test(value)) {
          throw new UserError(`${flag}: "${value}" is not a valid DNS-1123 label: use lower-case letters, digits and "-", at most 63 characters`);
        }
      }
      const replicas = Number(flags.replicas);
      if (!Number.isInteger(replicas) || replicas < 1) {
        throw new UserError(`--replicas: "${flags.replicas}" is not a positive integer: use e.g. --replicas 2`);
      }
      if (flags.image.trim() === '' || /\s/.test(flags.image)) {
        throw new UserError(`--image: "${flags.image}" is not an image reference: use e.g. --image ${DEFAULT_IMAGE}`);
      }
      if (flags.initImage !== undefined && (flags.initImage.trim() === '' || /\s/.test(flags.initImage))) {
        throw new UserError(`--init-image: "${flags.initImage}" is not an image reference: use e.g. --init-image ${DEFAULT_INIT_IMAGE}`);
      }
      const objects = renderInstall({
        profile,
        namespace,
        meshName: profile.meshName,
        image: flags.image,
        ...(flags.initImage === undefined ? {} : { initImage: flags.initImage }),
        enableEgress: flags.enableEgress ?? false,
        certManager: flags.certManager ?? false,
        replicas,
      });
      process.stdout.write(toMultiDocumentYaml(objects));
    });
}
