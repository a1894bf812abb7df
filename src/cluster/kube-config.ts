import { KubeConfig } from '@kubernetes/client-node';

/** The server client-node falls back to when it finds no configuration at all. */
const NO_CONFIG_SERVER = 'http://localhost:8080';

/** Thrown when there is no usable cluster configuration; the message says where it looked. */
export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

/**
 * Loads cluster credentials the way kubectl finds them: an explicit file, else `KUBECONFIG`, else
 * `~/.kube/config`, else the pod's service account (in-cluster).
 */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (file) kc.loadFromFile(file);
    else kc.loadFromDefault();
  } catch (err) {
    const where = file ?? process.env.KUBECONFIG ?? '~/.kube/config';
    throw new KubeConfigError(`cannot read kubeconfig ${where}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new KubeConfigError(`kubeconfig ${file ?? process.env.KUBECONFIG ?? '~/.kube/config'} has no current cluster: set current-context (kubectl config use-context NAME)`);
  }
  if (!file && cluster.server === NO_CONFIG_SERVER) {
    throw new KubeConfigError('no Kubernetes cluster configured: set KUBECONFIG or --kubeconfig, create ~/.kube/config, or run in a pod with a service account');
  }
  return kc;
}

/** The API server URL the configuration points at (for error messages). */
export function serverOf(kc: KubeConfig): string {
  return kc.getCurrentCluster()?.server ?? '(no server)';
}

/**
 * A view of `kc` whose API client requests (`makeApiClient(...)` on the view) are aborted when
 * `signal` is: a request in flight fails at once with an AbortError, a later one before it is sent.
 * What lets a shutdown cut a list or a Secret read a slow API server holds open. Watches pass a
 * signal of their own to fetch and are cut by their informer (resilient-informer.ts).
 */
export function withAbortSignal(kc: KubeConfig, signal: AbortSignal | (() => AbortSignal)): KubeConfig {
  const current = typeof signal === 'function' ? signal : () => signal;
  const view = Object.create(kc) as KubeConfig;
  view.applySecurityAuthentication = async (context) => {
    await kc.applySecurityAuthentication(context);
    const s = current();
    s.throwIfAborted();
    const own = context.getSignal();
    context.setSignal(own ? AbortSignal.any([own, s]) : s);
  };
  return view;
}
