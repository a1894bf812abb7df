import { z } from 'zod';
import { objectSchema } from './object-schema.js';

/** The structure of an SMI HTTPRouteGroup (specs.smi-spec.io/v1alpha4). */
export const httpRouteGroupSchema = objectSchema(
  z.strictObject({
    matches: z.array(
      z.strictObject({
        name: z.string(),
        methods: z.array(z.string()).nullish(),
        pathRegex: z.string().nullish(),
        // SMI's wire form: a list of single-key maps (`- user-agent: ".*Android.*"`), as OSM's CRD
        // declares and smi-sdk-go decodes. One key per item is the rules' check (a field error per item).
        headers: z.array(z.record(z.string(), z.string())).nullish(),
      }),
    ),
  }),
);

/** SMI v1alpha4's HTTP methods (`*` is any). */
export const HTTP_METHODS = ['*', 'GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
