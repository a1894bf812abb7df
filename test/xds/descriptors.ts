import { existsSync } from 'node:fs';
import { writeEnvoyDescriptors } from '../../scripts/build-envoy-descriptors.js';
import { descriptorSetPath } from '../../src/xds/envoy-types.js';

/** The runtime descriptors are a build output; tests run from source may come before a build. */
export function ensureDescriptors(): void {
  if (!existsSync(descriptorSetPath())) writeEnvoyDescriptors(descriptorSetPath());
}
