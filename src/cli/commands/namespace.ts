import type { Command } from 'commander';
import type { KubeApi } from '../../cluster/kube-api.js';
import type { NamespaceResult } from '../../cluster/namespace-enrollment.js';
import { UserError } from '../errors.js';
import { profileFrom, type GlobalOptions } from '../global-options.js';

interface KubeconfigOption {
  kubeconfig?: string;
}

const KUBECONFIG_HELP = 'path of the kubeconfig (default: KUBECONFIG, ~/.kube/config, then in-cluster credentials)';

// The cluster modules (and @kubernetes/client-node) load only when a cluster command runs, so the
// offline commands (validate, inject, install) start fast.
const enrollment = () => import('../../cluster/namespace-enrollment.js');

/** Connects, turning a missing or unreadable kubeconfig into a one-line error. */
export async function connectOrFail(path: string | undefined): Promise<KubeApi> {
  const { connectKubeApi } = await import('../../cluster/kube-api.js');
  const { KubeConfigError } = await import('../../cluster/kube-config.js');
  try {
    return connectKubeApi(path);
  } catch (err) {
    if (err instanceof KubeConfigError) throw new UserError(err.message, 1);
    throw err;
  }
}

/** Runs one step per namespace, printing a result line each; any failure makes the exit code 1. */
async function forEachNamespace(names: string[], step: (name: string) => Promise<NamespaceResult>): Promise<void> {
  const { ClusterRequestError } = await enrollment();
  let failed = false;
  for (const name of names) {
    let result: NamespaceResult;
    try {
      result = await step(name);
    } catch (err) {
      if (err instanceof ClusterRequestError) throw new UserError(err.message, 1);
      throw err;
    }
    if (result.ok) process.stdout.write(result.lines.map((l) => `${l}\n`).join(''));
    else {
      failed = true;
      process.stderr.write(`meshgate: ${result.message}\n`);
    }
  }
  if (failed) process.exitCode = 1;
}

/** Columns separated by at least three spaces, like OSM's tabwriter output. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('') + '\n').join('');
}

export function register(program: Command): void {
  const ns = program
    .command('namespace')
    .alias('ns')
    .description('add namespaces to the mesh, remove them, ignore them, list them (osm/fsm namespace semantics)');

  ns.command('add')
    .argument('<namespace...>', 'namespaces to enroll')
    .description(
      'enroll namespaces in the mesh: label <domain>/monitored-by=<mesh> and annotate <domain>/sidecar-injection=enabled, ' +
        'so pods created there get the sidecar; refuses namespaces of another mesh and ignored ones',
    )
    .option('--disable-sidecar-injection', 'enroll without automatic sidecar injection (annotation set to disabled)', false)
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .addHelpText('after', '\nExamples:\n  meshgate namespace add curl\n  meshgate namespace add bookstore bookbuyer --mesh-name osm\n  meshgate namespace add legacy --disable-sidecar-injection')
    .action(async (names: string[], opts: KubeconfigOption & { disableSidecarInjection: boolean }, cmd: Command) => {
      const profile = profileFrom(cmd);
      const api = await connectOrFail(opts.kubeconfig);
      const { addNamespace } = await enrollment();
      await forEachNamespace(names, (n) => addNamespace(api, profile, n, { disableSidecarInjection: opts.disableSidecarInjection }));
    });

  ns.command('remove')
    .argument('<namespace...>', 'namespaces to take out of the mesh')
    .description('remove namespaces from the mesh (label and sidecar-injection annotation); refuses a namespace of another mesh')
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .action(async (names: string[], opts: KubeconfigOption, cmd: Command) => {
      const profile = profileFrom(cmd);
      const api = await connectOrFail(opts.kubeconfig);
      const { removeNamespace } = await enrollment();
      await forEachNamespace(names, (n) => removeNamespace(api, profile, n));
    });

  ns.command('ignore')
    .argument('<namespace...>', 'namespaces the mesh must leave alone')
    .description('label namespaces <domain>/ignore=true: no sidecar is injected there (running pods keep theirs until re-created)')
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .action(async (names: string[], opts: KubeconfigOption, cmd: Command) => {
      const profile = profileFrom(cmd);
      const api = await connectOrFail(opts.kubeconfig);
      const { ignoreNamespace } = await enrollment();
      await forEachNamespace(names, (n) => ignoreNamespace(api, profile, n));
    });

  ns.command('list')
    .argument('[mesh]', 'only namespaces of this mesh (default: every mesh; --mesh-name works too)')
    .description('list namespaces enrolled in meshes: NAMESPACE, MESH, SIDECAR-INJECTION')
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .action(async (mesh: string | undefined, opts: KubeconfigOption, cmd: Command) => {
      const profile = profileFrom(cmd);
      // Only an explicit --mesh-name filters (the profile's default mesh name does not).
      const explicitMesh = mesh ?? (cmd.optsWithGlobals() as GlobalOptions).meshName;
      const api = await connectOrFail(opts.kubeconfig);
      const { ClusterRequestError, listEnrolledNamespaces } = await enrollment();
      let rows;
      try {
        rows = await listEnrolledNamespaces(api, profile, explicitMesh);
      } catch (err) {
        if (err instanceof ClusterRequestError) throw new UserError(err.message, 1);
        throw err;
      }
      if (rows.length === 0) {
        process.stdout.write(explicitMesh ? `No namespaces in mesh [${explicitMesh}]\n` : 'No namespaces in any mesh\n');
        return;
      }
      process.stdout.write(table([['NAMESPACE', 'MESH', 'SIDECAR-INJECTION'], ...rows.map((r) => [r.name, r.mesh, r.sidecarInjection])]));
    });
}
