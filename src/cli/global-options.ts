import type { Command } from 'commander';
import { isProfileName, resolveProfile, type Profile } from '../profile.js';
import { UserError } from './errors.js';

export interface GlobalOptions {
  profile: string;
  meshName?: string;
  meshNamespace?: string;
}

/** Options every command shares (SPEC §1): the profile and its overrides. */
export function addGlobalOptions(program: Command): Command {
  return program
    .option('--profile <name>', 'mesh profile: osm or fsm (names, labels, MeshConfig)', process.env.MESHGATE_PROFILE ?? 'osm')
    .option('--mesh-name <name>', 'mesh name (default: the profile\'s, "osm" or "fsm")', process.env.MESHGATE_MESH_NAME)
    .option(
      '--mesh-namespace <ns>',
      'control-plane namespace (default: the profile\'s, "osm-system" or "fsm-system")',
      process.env.MESHGATE_MESH_NAMESPACE,
    );
}

/** The profile the global options select; a bad profile name is a usage error. */
export function profileFrom(cmd: Command): Profile {
  const opts = cmd.optsWithGlobals() as GlobalOptions;
  if (!isProfileName(opts.profile)) {
    throw new UserError(`--profile: unknown profile "${opts.profile}": use "osm" or "fsm"`);
  }
  return resolveProfile(opts.profile, { meshName: opts.meshName, meshNamespace: opts.meshNamespace });
}
