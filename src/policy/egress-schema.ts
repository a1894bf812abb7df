import { z } from 'zod';
import { objectSchema } from './object-schema.js';

/**
 * The structure of an Egress (policy.openservicemesh.io and policy.flomesh.io v1alpha1): types and
 * known fields only. Values (ranges, enums, names) are the rules' job, so that a single wrong type
 * does not hide every other error. Null counts as absent, as the API server prunes it.
 */
export const egressSchema = objectSchema(
  z.strictObject({
    sources: z.array(
      z.strictObject({
        kind: z.string(),
        name: z.string(),
        namespace: z.string(),
        // FSM's egress-gateway mTLS settings for the source; not meshgate's to check.
        mtls: z.looseObject({}).nullish(),
      }),
    ),
    hosts: z.array(z.string()).nullish(),
    ipAddresses: z.array(z.string()).nullish(),
    ports: z.array(
      z.strictObject({
        number: z.int(),
        protocol: z.string(),
      }),
    ),
    matches: z
      .array(
        z.strictObject({
          apiGroup: z.string(),
          kind: z.string(),
          name: z.string(),
        }),
      )
      .nullish(),
  }),
);
