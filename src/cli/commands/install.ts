import type { Command } from 'commander';
import { imageRef } from '../../images.js';
import { DEFAULT_IMAGE } from '../../manifests/defaults.js';
import { renderInstall } from '../../manifests/render-install.js';
import { toMultiDocumentYaml } from '../../manifests/yaml-output.js';
import { resolveProfile } from '../../profile.js';
import { UserError } from '../errors.js';
import { profileFrom } from '../global-options.js';

interface InstallFlags {
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

/** `meshgate install`: every manifest of an install as multi-document YAML for `kubectl apply -f -` (SPEC §6). */
export function register(program: Command): void {
  program
    .command('install')
    .description('print the manifests of an install (CRDs, RBAC, Deployment, Service, PDB, webhook configurations) for `kubectl apply -f -`')
    .option('--namespace <ns>', 'control-plane namespace (same as the global --mesh-namespace)')
    .option('--enable-egress', 'default MeshConfig allows all egress (traffic.enableEgress: true); Egress policies then restrict nothing')
    .option('--cert-manager', 'certificates from cert-manager (Issuer, Certificate, CA injection) instead of the server-managed Secret')
    .option('--image <ref>', 'server image', DEFAULT_IMAGE)
    .option('--init-image <ref>', `init (iptables) image the injector uses when the MeshConfig names none (default: ${DEFAULT_INIT_IMAGE})`)
    .option('--replicas <n>', 'server replicas (at least 2 keeps pod creation available during disruptions)', '2')
    .option('--both-egress-groups', 'also install the Egress CRD of the other profile\'s policy group (makes `kubectl get egress` ambiguous)')
    .action((flags: InstallFlags, cmd: Command) => {
      const base = profileFrom(cmd);
      const namespace = flags.namespace ?? base.controlNamespace;
      const profile = resolveProfile(base.name, { meshName: base.meshName, meshNamespace: namespace });
      for (const [flag, value] of [['--namespace', namespace], ['--mesh-name', profile.meshName]] as const) {
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
        bothEgressGroups: flags.bothEgressGroups ?? false,
      });
      process.stdout.write(toMultiDocumentYaml(objects));
    });
}
