import { z } from 'zod';
import { objectSchema } from './object-schema.js';

/**
 * The MeshConfig fields meshgate checks (OSM config.openservicemesh.io/v1alpha2, FSM
 * config.flomesh.io/v1alpha3). Other fields pass through: the two projects' schemas differ and
 * grow, and a field meshgate does not read cannot hurt it.
 */
const image = z.string().nullish();
const ports = z.array(z.int()).nullish();
const strings = z.array(z.string()).nullish();
const bool = z.boolean().nullish();

export const meshConfigSchema = objectSchema(
  z
    .looseObject({
      sidecar: z
        .looseObject({
          enablePrivilegedInitContainer: bool,
          logLevel: z.string().nullish(),
          localProxyMode: z.string().nullish(),
          maxDataPlaneConnections: z.int().nullish(),
          envoyImage: image,
          envoyWindowsImage: image,
          sidecarImage: image,
          sidecarWindowsImage: image,
          initContainerImage: image,
        })
        .nullish(),
      traffic: z
        .looseObject({
          enableEgress: bool,
          enablePermissiveTrafficPolicyMode: bool,
          outboundIPRangeExclusionList: strings,
          outboundIPRangeInclusionList: strings,
          outboundPortExclusionList: ports,
          inboundPortExclusionList: ports,
          networkInterfaceExclusionList: strings,
        })
        .nullish(),
      featureFlags: z.looseObject({ enableEgressPolicy: bool }).nullish(),
    })
    .nullish(),
);

/** Envoy's log levels as OSM's MeshConfig CRD lists them. */
export const SIDECAR_LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'off'] as const;
export const LOCAL_PROXY_MODES = ['Localhost', 'PodIP'] as const;
/** Image fields of OSM (envoy*) and FSM (sidecar*). */
export const SIDECAR_IMAGE_FIELDS = ['envoyImage', 'envoyWindowsImage', 'sidecarImage', 'sidecarWindowsImage', 'initContainerImage'] as const;
