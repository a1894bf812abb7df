import { Option, type Command } from 'commander';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { UserError } from '../cli/errors.js';
import { XDS_PORT } from '../profile.js';
import type { MeshgateSettings } from '../settings.js';
import type { StateSource } from '../state/mesh-state.js';
import type { StateChangeListener } from '../state/store.js';
import type { TlsMaterial, WebhookServer } from '../webhook/server.js';

/**
 * The ADS server's part of `meshgate serve` (SPEC §10): its flags, and starting it beside the
 * webhook server on the same certificate, state and metrics. Kept light: grpc-js, the descriptors
 * and the Kubernetes client are loaded only when ADS is on.
 */

export interface XdsOptionValues {
  xdsPort: string;
  xdsAllowUnauthenticated?: boolean;
  state?: string;
  kubeconfig?: string;
  host: string;
}

export function addXdsOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--xds-port <port>', 'ADS (xDS over gRPC, TLS) port for the sidecars; 0 turns ADS off').env('MESHGATE_XDS_PORT').default(String(XDS_PORT)))
    .addOption(
      new Option(
        '--xds-allow-unauthenticated',
        'development only, with --state: serve ADS without TokenReview, taking the identity from node.cluster (SA.NS) as the client states it',
      ).env('MESHGATE_XDS_ALLOW_UNAUTHENTICATED'),
    );
}

export function parseXdsPort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new UserError(`--xds-port: ${JSON.stringify(value)} is not a port: use a number from 1 to 65535, or 0 to turn ADS off`);
  }
  return n;
}

export interface XdsContext {
  opts: XdsOptionValues;
  logger: Logger;
  source: StateSource;
  settings: MeshgateSettings;
  /** The serving certificate now; renewals arrive through `RunningXds.updateTls`. */
  tls: TlsMaterial;
  webhook: WebhookServer;
  /** Aborted when the server stops: cuts the TokenReviews in flight, their connections too. */
  signal?: AbortSignal;
}

export interface RunningXds {
  port: number;
  /**
   * New TLS handshakes use `tls` (open streams keep theirs). `meshgate serve` calls it, with the
   * webhook server's, from its one subscription to the certificate source; a refused pair is
   * logged and the old one kept.
   */
  updateTls(tls: TlsMaterial): void;
  close(): Promise<void>;
}

/**
 * Starts ADS when it is on: with a live cluster (TokenReview identity), or with --state and
 * --xds-allow-unauthenticated. Undefined when off. Errors a user can cause are UserErrors.
 */
export async function startXds(ctx: XdsContext): Promise<RunningXds | undefined> {
  const { opts, logger } = ctx;
  const port = parseXdsPort(opts.xdsPort);
  const allowUnauthenticated = opts.xdsAllowUnauthenticated === true;
  if (allowUnauthenticated && !opts.state) {
    throw new UserError('--xds-allow-unauthenticated: only with --state (development); with a cluster, proxies authenticate with their ServiceAccount token');
  }
  if (port === 0) {
    logger.info('ADS off (--xds-port 0)');
    return undefined;
  }
  if (opts.state && !allowUnauthenticated) {
    logger.info('ADS off: with --state there is no API server to review tokens; add --xds-allow-unauthenticated for development');
    return undefined;
  }

  const [{ AdsServer }, identity] = await Promise.all([import('./ads-server.js'), import('./identity.js')]);
  let authenticator;
  if (allowUnauthenticated) {
    authenticator = new identity.NodeClusterAuthenticator();
    logger.warn({ xdsPort: port }, 'ADS serves WITHOUT authentication (--xds-allow-unauthenticated): any client can ask for any ServiceAccount\'s config by its node.cluster; development only');
  } else {
    const { loadKubeConfig, withAbortSignal } = await import('../cluster/kube-config.js');
    try {
      const kc = loadKubeConfig(opts.kubeconfig);
      authenticator = new identity.TokenReviewAuthenticator({ kc: ctx.signal ? withAbortSignal(kc, ctx.signal) : kc });
    } catch (err) {
      throw new UserError(`ADS token review: ${err instanceof Error ? err.message : String(err)}`, 1);
    }
  }

  const state = ctx.source.state;
  const feed = state as unknown as { onChange?: (l: StateChangeListener) => () => void };
  const ads = new AdsServer({
    logger,
    state,
    ...(typeof feed.onChange === 'function' ? { changes: { onChange: (l: StateChangeListener) => feed.onChange!(l) } } : {}),
    settings: ctx.settings,
    authenticator,
    tls: ctx.tls,
    registry: ctx.webhook.metrics.registry,
    ready: () => ctx.source.ready(),
    controlPlaneId: process.env.HOSTNAME || hostname(),
  });
  let bound: number;
  try {
    bound = await ads.listen(port, opts.host);
  } catch (err) {
    await ads.close(0);
    const message = err instanceof Error ? err.message : String(err);
    throw new UserError(
      /EADDRINUSE|address already in use/i.test(message)
        ? `--xds-port ${port}: address ${opts.host}:${port} is already in use: pick another --xds-port (or 0 to turn ADS off)`
        : `--host ${opts.host} / --xds-port ${port}: cannot listen: ${message}`,
      1,
    );
  }
  ctx.webhook.setProxyStatus(() => ads.proxyStatus());
  logger.info({ xdsPort: bound, authentication: allowUnauthenticated ? 'node.cluster (unauthenticated)' : 'TokenReview' }, 'ADS serving');
  // A line of its own, before the "meshgate serving" line, so whoever waits for that one finds the port.
  process.stderr.write(`meshgate ADS serving ${opts.host}:${bound}${allowUnauthenticated ? ' (unauthenticated: development only)' : ''}\n`);
  return {
    port: bound,
    updateTls(tls) {
      try {
        ads.updateTls(tls);
      } catch (err) {
        logger.error({ err }, 'ADS: the renewed certificate was refused; keeping the old one');
      }
    },
    async close() {
      ctx.webhook.setProxyStatus(undefined);
      await ads.close();
    },
  };
}
