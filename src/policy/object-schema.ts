import { z } from 'zod';

/**
 * The envelope every validated object shares. Top-level fields other than metadata and spec
 * (status, ...) pass through; `spec` is strict in each kind's schema.
 */
export const objectMetaSchema = z.looseObject({
  name: z.string().nullish(),
  generateName: z.string().nullish(),
  namespace: z.string().nullish(),
});

export function objectSchema<S extends z.ZodType>(spec: S) {
  return z.looseObject({
    apiVersion: z.string().nullish(),
    kind: z.string().nullish(),
    metadata: objectMetaSchema.nullish(),
    spec,
  });
}
