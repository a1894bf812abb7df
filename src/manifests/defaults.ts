import { imageRef } from '../images.js';
import { resolveProfile } from '../profile.js';
import type { InstallOptions } from './types.js';

/** The server image `meshgate install` uses unless `--image` says otherwise (src/images.ts). */
export const DEFAULT_IMAGE = imageRef('server');

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
