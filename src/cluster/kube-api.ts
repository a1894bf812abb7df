import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { failureOf, isConflict } from './api-errors.js';
import { loadKubeConfig, serverOf } from './kube-config.js';

/** The API clients the mesh commands use, and the server URL for messages. */
export interface KubeApi {
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  server: string;
}

export function connectKubeApi(kubeconfigPath?: string): KubeApi {
  const kc = loadKubeConfig(kubeconfigPath);
  return { kc, core: kc.makeApiClient(CoreV1Api), custom: kc.makeApiClient(CustomObjectsApi), server: serverOf(kc) };
}

/** Request options that send a body as an RFC 7386 merge patch (what `kubectl patch --type=merge` sends). */
export const mergePatchOptions = () => setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * Runs `attempt` again when the API server answers 409 Conflict (someone else changed the object
 * between our read and our write), like client-go's RetryOnConflict: a few tries, short backoff.
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>, opts: { tries?: number; baseDelayMs?: number } = {}): Promise<T> {
  const tries = opts.tries ?? 5;
  const base = opts.baseDelayMs ?? 10;
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isConflict(err) || i >= tries) throw err;
      await new Promise((r) => setTimeout(r, base * 2 ** (i - 1)));
    }
  }
}

/** True when the server was never reached, or refused our credentials: every further call fails alike. */
export function isFatalForAll(err: unknown): boolean {
  const f = failureOf(err);
  return f.transport !== undefined || f.code === 401;
}
