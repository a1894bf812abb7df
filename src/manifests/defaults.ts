import { resolveProfile } from '../profile.js';
import { DEFAULT_SETTINGS } from '../settings.js';
import type { InstallOptions } from './types.js';

/** The server image `meshgate install` uses unless `--image` says otherwise. */
export const DEFAULT_IMAGE = `meshgate/meshgate:${DEFAULT_SETTINGS.version}`;

/** What `meshgate install` renders with no flags; also what `manifests/` holds. */
export function defaultInstallOptions(): InstallOptions {
  const profile = resolveProfile('osm');
  return {
    profile,
    namespace: profile.controlNamespace,
    meshName: profile.meshName,
    image: DEFAULT_IMAGE,
    enableEgress: false,
    certManager: false,
  };
}
