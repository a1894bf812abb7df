import { z } from 'zod';
import type { ObjectMeta } from '../state/types.js';

/**
 * The parts of a Pod the injector reads and writes. Unknown fields are kept as they are (the
 * patch is a diff against the object as sent), so every shape here is loose.
 */
export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  [key: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  securityContext?: SecurityContext;
  restartPolicy?: string;
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  [key: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  /** Added through the `pods/ephemeralcontainers` subresource (kubectl debug), never on CREATE. */
  ephemeralContainers?: Container[];
  volumes?: { name: string; [key: string]: unknown }[];
  hostNetwork?: boolean;
  serviceAccountName?: string;
  securityContext?: { runAsUser?: number; [key: string]: unknown };
  [key: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec: PodSpec;
  [key: string]: unknown;
}

const capabilities = z.object({ add: z.array(z.string()).optional(), drop: z.array(z.string()).optional() });
const securityContext = z.object({
  runAsUser: z.number().int().optional(),
  privileged: z.boolean().optional(),
  capabilities: capabilities.optional(),
});
const container = z.object({ name: z.string(), securityContext: securityContext.optional() });

/**
 * The edge schema: what must hold for the injector and the bypass guard to read a pod safely. Only
 * its verdict is used (parsePod returns the pod as sent), so unknown fields are stripped from
 * zod's throw-away copy instead of being copied into it.
 */
export const podSchema = z.object({
  metadata: z
    .object({
      name: z.string().optional(),
      generateName: z.string().optional(),
      namespace: z.string().optional(),
      labels: z.record(z.string(), z.string()).optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  spec: z.object({
    containers: z.array(container),
    initContainers: z.array(container).optional(),
    ephemeralContainers: z.array(container).optional(),
    volumes: z.array(z.object({ name: z.string() })).optional(),
    hostNetwork: z.boolean().optional(),
    serviceAccountName: z.string().optional(),
    securityContext: z.object({ runAsUser: z.number().int().optional() }).optional(),
  }),
});

/**
 * Checks that a pod (or a pod template) is pod-shaped; undefined when it is not. Returns the value
 * itself, not zod's copy: the schema transforms nothing, and keeping the object as sent keeps its
 * key order (the CLI prints it back).
 */
export function parsePod(value: unknown): Pod | undefined {
  return podSchema.safeParse(value).success ? (value as Pod) : undefined;
}
