import { KubeConfig, type Cluster } from '@kubernetes/client-node';
import type { AgentOptions } from 'node:https';
import type { Socket } from 'node:net';
import { Agent, buildConnector } from 'undici';

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
 *
 * The abort also closes the request's connection, whatever stage it is at: aborting the fetch alone
 * leaves a connection still being made to undici, which keeps connecting (a TCP connection the API
 * server accepted but never answers with a TLS handshake: up to its 10 s connect timeout), and that
 * socket keeps the process alive after everything else closed.
 */
export function withAbortSignal(kc: KubeConfig, signal: AbortSignal | (() => AbortSignal)): KubeConfig {
  const current = typeof signal === 'function' ? signal : () => signal;
  const view = Object.create(kc) as KubeConfig;
  view.applySecurityAuthentication = async (context) => {
    const s = current();
    await kc.applySecurityAuthentication.call(cuttingConnections(kc, s), context);
    s.throwIfAborted();
    const own = context.getSignal();
    context.setSignal(own ? AbortSignal.any([own, s]) : s);
  };
  return view;
}

/**
 * A view of `kc` whose requests' connections are destroyed when `signal` aborts, whatever stage they
 * are at (connecting, TLS handshake, waiting for the response, streaming), without tying the requests
 * themselves to it: for client-node's Watch, which ignores the request context's signal.
 */
export function cuttingConnectionsOn(kc: KubeConfig, signal: () => AbortSignal): KubeConfig {
  const view = Object.create(kc) as KubeConfig;
  view.applySecurityAuthentication = (context) => kc.applySecurityAuthentication.call(cuttingConnections(kc, signal()), context);
  return view;
}

interface MakesDispatchers {
  createDispatcher(cluster: Cluster | null, agentOptions: AgentOptions): unknown;
}

type DispatcherOptions = ReturnType<KubeConfig['createDispatcherOptions']>;
type ConnectOptions = Extract<DispatcherOptions, { type: 'agent' }>['connect'];

/**
 * `kc` for one request's `applySecurityAuthentication`: the connection pool client-node makes for
 * the request (one per request) connects through a connector that destroys the socket when
 * `signal` aborts. The TLS options and keep-alive are client-node's (`createDispatcherOptions`);
 * with no TLS options of its own (system CAs) the request gets such a pool too, instead of the
 * process-wide one. Through an HTTP or SOCKS proxy client-node's pool is kept: it is not cut while
 * connecting (the abort still fails the request).
 */
function cuttingConnections(kc: KubeConfig, signal: AbortSignal): KubeConfig {
  const call = Object.create(kc) as KubeConfig;
  // client-node's (private) per-request pool factory, the one step replaced.
  const own = (kc as unknown as MakesDispatchers).createDispatcher;
  (call as unknown as MakesDispatchers).createDispatcher = (cluster, agentOptions) => {
    const opts = kc.createDispatcherOptions(cluster, agentOptions);
    if (opts.type === 'agent') return new Agent({ connect: cutOnAbort(opts.connect, signal) });
    if (opts.type === 'none') return new Agent({ connect: cutOnAbort({ keepAlive: true, keepAliveInitialDelay: 30_000 }, signal) });
    return own.call(kc, cluster, agentOptions);
  };
  return call;
}

/** undici's connector with `options`, whose sockets are destroyed when `signal` aborts (connecting, in TLS handshake, or open). */
function cutOnAbort(options: ConnectOptions, signal: AbortSignal): buildConnector.connector {
  const connect = buildConnector(options as buildConnector.BuildOptions);
  return (opts, callback) => {
    if (signal.aborted) {
      callback(signal.reason instanceof Error ? signal.reason : new Error('request aborted'), null);
      return;
    }
    const socket = connect(opts, callback) as unknown as Socket | undefined;
    if (!socket) return;
    // Destroyed with an error: the connector reports it, so undici fails the request and forgets the socket.
    const cut = () => socket.destroy(signal.reason instanceof Error ? signal.reason : new Error('request aborted'));
    signal.addEventListener('abort', cut, { once: true });
    // The listener lives as long as the socket (a request, then at most undici's idle keep-alive).
    socket.once('close', () => signal.removeEventListener('abort', cut));
  };
}
