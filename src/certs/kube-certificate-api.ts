import { AdmissionregistrationV1Api, ApiException, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import { secretSchema, type SecretObject } from './certificate-secret.js';

export type WebhookConfigurationKind = 'validating' | 'mutating';

export interface JsonPatchOp {
  op: 'add' | 'replace' | 'test' | 'remove';
  path: string;
  value?: unknown;
}

/** The webhook list of a webhook configuration, as far as caBundle publishing needs it. */
export const webhookConfigurationSchema = z
  .object({
    metadata: z.object({ name: z.string(), resourceVersion: z.string().optional() }).loose(),
    webhooks: z
      .array(z.object({ name: z.string(), clientConfig: z.object({ caBundle: z.string().optional().nullable() }).loose().optional() }).loose())
      .optional()
      .nullable(),
  })
  .loose();
export type WebhookConfigurationObject = z.infer<typeof webhookConfigurationSchema>;

/** 409 on create: the object exists (another replica created it first). */
export class AlreadyExistsError extends Error {
  constructor(what: string) {
    super(`${what} already exists`);
    this.name = 'AlreadyExistsError';
  }
}

/** 409 on update: the resourceVersion changed (another replica wrote first). */
export class ConflictError extends Error {
  constructor(what: string) {
    super(`${what} was modified concurrently`);
    this.name = 'ConflictError';
  }
}

/**
 * The few API calls the certificate manager makes: a seam so the manager reads as its protocol,
 * with one implementation over @kubernetes/client-node (tests run it against a fake API server).
 */
export interface CertificateKubeApi {
  readSecret(namespace: string, name: string): Promise<SecretObject | undefined>;
  /** Throws AlreadyExistsError on 409. */
  createSecret(namespace: string, secret: SecretObject): Promise<SecretObject>;
  /** Replaces with the resourceVersion precondition in `secret.metadata`; throws ConflictError on 409. */
  replaceSecret(namespace: string, secret: SecretObject): Promise<SecretObject>;
  readWebhookConfiguration(kind: WebhookConfigurationKind, name: string): Promise<WebhookConfigurationObject | undefined>;
  patchWebhookConfiguration(kind: WebhookConfigurationKind, name: string, patch: JsonPatchOp[]): Promise<void>;
}

function statusCode(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/** The client-node implementation (in-cluster config, KUBECONFIG or ~/.kube/config through `kc`). */
export function kubeCertificateApi(kc: KubeConfig): CertificateKubeApi {
  const core = kc.makeApiClient(CoreV1Api);
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
  const parseSecret = (obj: unknown) => secretSchema.parse(obj);
  return {
    async readSecret(namespace, name) {
      try {
        return parseSecret(await core.readNamespacedSecret({ namespace, name }));
      } catch (err) {
        if (statusCode(err) === 404) return undefined;
        throw err;
      }
    },
    async createSecret(namespace, secret) {
      try {
        return parseSecret(await core.createNamespacedSecret({ namespace, body: secret as never }));
      } catch (err) {
        if (statusCode(err) === 409) throw new AlreadyExistsError(`Secret ${namespace}/${secret.metadata.name}`);
        throw err;
      }
    },
    async replaceSecret(namespace, secret) {
      try {
        return parseSecret(await core.replaceNamespacedSecret({ namespace, name: secret.metadata.name, body: secret as never }));
      } catch (err) {
        if (statusCode(err) === 409) throw new ConflictError(`Secret ${namespace}/${secret.metadata.name}`);
        throw err;
      }
    },
    async readWebhookConfiguration(kind, name) {
      try {
        const obj =
          kind === 'validating'
            ? await admission.readValidatingWebhookConfiguration({ name })
            : await admission.readMutatingWebhookConfiguration({ name });
        return webhookConfigurationSchema.parse(obj);
      } catch (err) {
        if (statusCode(err) === 404) return undefined;
        throw err;
      }
    },
    async patchWebhookConfiguration(kind, name, patch) {
      if (kind === 'validating') await admission.patchValidatingWebhookConfiguration({ name, body: patch }, jsonPatch);
      else await admission.patchMutatingWebhookConfiguration({ name, body: patch }, jsonPatch);
    },
  };
}
