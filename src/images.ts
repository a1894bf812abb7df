import { MESHGATE_VERSION } from './version.js';

/**
 * meshgate's two container images, named in this one place: `meshgate install` (the server
 * Deployment), the injector's default init container, and images/build.sh (which reads this module
 * from dist/ to tag what it builds) all take the names from here, so an install can never name an
 * image the build does not produce. Both are tagged with the package version.
 */
export const IMAGE_REPOSITORIES = {
  /** The server: `meshgate serve` and the rest of the CLI (images/meshgate.Containerfile). */
  server: 'meshgate/meshgate',
  /** The injected init container: a POSIX shell and iptables (images/meshgate-init.Containerfile). */
  init: 'meshgate/meshgate-init',
} as const;

export type ImageName = keyof typeof IMAGE_REPOSITORIES;

/** `repository:version`, e.g. meshgate/meshgate:0.1.0. */
export function imageRef(name: ImageName, version: string = MESHGATE_VERSION): string {
  return `${IMAGE_REPOSITORIES[name]}:${version}`;
}

/** Every image the build produces, by name (images/build.sh prints and tags exactly these). */
export function builtImages(version: string = MESHGATE_VERSION): Record<ImageName, string> {
  return { server: imageRef('server', version), init: imageRef('init', version) };
}
