import express, { type NextFunction, type Request, type Response } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { mutatePod } from '../injector/index.js';
import { validateAdmission } from '../validate-admission.js';
import type { MeshgateSettings } from '../settings.js';
import type { StateSource } from '../state/mesh-state.js';
import { decodeAdmissionReview } from './admission-request.js';
import { badRequest, forMutation, forValidation, internalError, serializeReview, unavailable, type AdmissionReviewResponse } from './admission-response.js';
import { healthzHandler, readinessOf, readyzHandler } from './health.js';
import { readBody } from './request-body.js';
import { PROXY_STATUS_PATH } from '../xds/proxy-status.js';
import { WebhookMetrics, type AdmissionResult, type WebhookName } from './metrics.js';
import { WriteBatcher } from './write-batcher.js';
import type { AdmissionInput } from '../vocabulary/admission.js';

export interface TlsMaterial {
  cert: string | Buffer;
  key: string | Buffer;
}

/**
 * HTTP timeouts. Defaults follow controller-runtime's webhook server (ReadHeaderTimeout 32s,
 * IdleTimeout 90s, matching Go's http.DefaultTransport that kube-apiserver uses, so the server does
 * not close a pooled connection the API server is about to reuse), plus a whole-request bound:
 * kube-apiserver gives up on a webhook after at most 30s, so no request needs longer than that.
 */
export interface ServerTimeouts {
  /** Time to receive the request headers (slow-loris bound). */
  headersMs: number;
  /** Time to receive the whole request, headers and body. */
  requestMs: number;
  /** How long an idle keep-alive connection stays open. */
  keepAliveMs: number;
  /** TLS handshake bound. */
  handshakeMs: number;
  /** How often Node checks headersMs/requestMs on open connections. */
  checkIntervalMs: number;
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = {
  headersMs: 32_000,
  requestMs: 35_000,
  keepAliveMs: 90_000,
  handshakeMs: 10_000,
  checkIntervalMs: 2_000,
};

/** kube-apiserver's own request limit is 3 MiB; leave room for the review envelope around the object. */
export const DEFAULT_BODY_LIMIT_BYTES = 4 * 1024 * 1024;

export interface WebhookServerOptions {
  logger: Logger;
  source: StateSource;
  settings: MeshgateSettings;
  tls: TlsMaterial;
  validate?: typeof validateAdmission;
  mutate?: typeof mutatePod;
  bodyLimitBytes?: number;
  timeouts?: Partial<ServerTimeouts>;
  /** On close(), connections still busy after this long are cut (default 25s, inside a 30s grace period). */
  shutdownTimeoutMs?: number;
}

export interface WebhookServer {
  listen(port: number, host?: string): Promise<AddressInfo>;
  /** Hot-swaps the serving certificate: new handshakes use it, open connections keep working. Throws (and keeps the old one) on a bad pair. */
  updateTls(tls: TlsMaterial): void;
  /** Readiness false (the first step of shutdown, or a pre-stop hook). */
  setDraining(): void;
  /** Graceful: readiness false, in-flight requests finish, then connections and listener close. */
  close(): Promise<void>;
  readonly httpsServer: https.Server;
  readonly metrics: WebhookMetrics;
  /**
   * What `GET /debug/proxies` answers (JSON): the ADS server's connected proxies. Until one is
   * set (ADS off), the endpoint answers 404 saying so.
   */
  setProxyStatus(provider: (() => unknown) | undefined): void;
}

const TLS_MIN_VERSION = 'TLSv1.2' as const;

function secureContextOptions(tls: TlsMaterial) {
  return { cert: tls.cert, key: tls.key, minVersion: TLS_MIN_VERSION };
}

/** `application/json`, optionally with a UTF-8 charset, is the only body the API server sends. */
function isJsonContentType(header: string | undefined): boolean {
  if (header === 'application/json') return true;
  if (!header) return false;
  const [type, ...params] = header.split(';').map((s) => s.trim().toLowerCase());
  if (type !== 'application/json') return false;
  return params.every((p) => !p.startsWith('charset=') || /^charset="?utf-8"?$/.test(p));
}

function plainText(res: ServerResponse, code: number, message: string): void {
  const body = `${message}\n`;
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export function createWebhookServer(opts: WebhookServerOptions): WebhookServer {
  const { logger, source, settings } = opts;
  const validate = opts.validate ?? validateAdmission;
  const mutate = opts.mutate ?? mutatePod;
  const bodyLimit = opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  const shutdownTimeoutMs = opts.shutdownTimeoutMs ?? 25_000;

  let draining = false;
  let inFlight = 0;
  let idleWaiters: Array<() => void> = [];
  const readiness = readinessOf(source, () => draining);
  const metrics = new WebhookMetrics({ isReady: () => readiness.ready() });
  metrics.setCertificate(opts.tls.cert);

  function requestDone(): void {
    inFlight--;
    if (inFlight === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  // Operational endpoints (health, readiness, metrics) go through express; admission does not.
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');

  app.get('/healthz', healthzHandler);
  app.get('/readyz', readyzHandler(readiness));
  app.get('/metrics', async (_req, res, next) => {
    try {
      const m = await metrics.render();
      res.status(200).type(m.contentType).send(m.body);
    } catch (err) {
      next(err);
    }
  });

  let proxyStatus: (() => unknown) | undefined;
  app.get(PROXY_STATUS_PATH, (_req, res) => {
    if (!proxyStatus) {
      plainText(res, 404, 'the ADS server is not running on this meshgate serve (--xds-port 0, or --state without --xds-allow-unauthenticated)');
      return;
    }
    res.status(200).type('application/json').send(`${JSON.stringify(proxyStatus(), null, 2)}\n`);
  });

  app.use((req, res) => plainText(res, 404, `no route for ${req.method} ${req.path}`));

  // Anything unexpected on the operational endpoints: plain text, never a stack.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    logger.error({ err, path: req.path }, 'unexpected error serving a request');
    if (!res.headersSent) plainText(res, 500, 'internal error');
  });

  /**
   * The admission hot path, served straight from node:https (express's per-request set-up costs
   * more than deciding most requests; see the benchmark notes in the README). Checks the method and
   * content type, reads the body within the limit, then decides.
   */
  function serveAdmission(webhook: WebhookName, path: string, req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'POST') {
      metrics.rejectHttp(webhook, 405);
      res.setHeader('Allow', 'POST');
      plainText(res, 405, `method ${req.method} not allowed on ${path}: use POST`);
      req.resume();
      return;
    }
    if (!isJsonContentType(req.headers['content-type'])) {
      metrics.rejectHttp(webhook, 415);
      plainText(res, 415, `unsupported content type ${JSON.stringify(req.headers['content-type'] ?? '')}: use application/json`);
      req.resume();
      return;
    }
    readBody(req, bodyLimit, (r) => {
      if (r.ok) {
        handleAdmission(webhook, r.body, res);
        return;
      }
      if (r.status === 0) {
        logger.debug({ path }, 'client aborted the request');
        return;
      }
      metrics.rejectHttp(webhook, r.status);
      // What is left of an oversize body is not read: close the connection after answering.
      if (r.status === 413) res.setHeader('Connection', 'close');
      plainText(res, r.status, r.message);
    });
  }

  function handleAdmission(webhook: WebhookName, body: Buffer, res: ServerResponse): void {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1e3;
    if (body.length === 0) {
      metrics.rejectHttp(webhook, 400);
      plainText(res, 400, 'request body is empty: expected an AdmissionReview');
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (err) {
      metrics.rejectHttp(webhook, 400);
      plainText(res, 400, `request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    const decoded = decodeAdmissionReview(json);
    if (!decoded.ok) {
      if (decoded.uid === undefined) {
        metrics.rejectHttp(webhook, 400);
        logger.info({ webhook, reason: decoded.reason }, 'rejected a request that is not an AdmissionReview');
        plainText(res, 400, decoded.reason);
        return;
      }
      logger.info({ webhook, uid: decoded.uid, reason: decoded.reason }, 'denied a malformed AdmissionReview');
      metrics.observe(webhook, 'unknown', 'unknown', 'malformed', seconds());
      send(res, badRequest(decoded.uid, decoded.reason));
      return;
    }

    const input = decoded.input;
    // The request's logger carries its metadata on every line; made only when something is logged.
    let requestLogger: Logger | undefined;
    const log = () =>
      (requestLogger ??= logger.child({
        uid: input.uid,
        kind: input.kind.kind,
        namespace: input.namespace,
        name: input.name,
        operation: input.operation,
        webhook,
        ...(input.dryRun ? { dryRun: true } : {}),
      }));
    const finish = (review: AdmissionReviewResponse, result: AdmissionResult) => {
      const ms = seconds();
      metrics.observe(webhook, input.kind.kind, input.operation, result, ms);
      const r = review.response;
      const fields = { result, durationMs: Math.round(ms * 1e6) / 1e3, code: r.status?.code };
      if (result === 'error') {
        // Already logged with its stack where it was caught.
      } else if (!r.allowed) {
        // Checked first: the request's child logger costs more than deciding most requests.
        if (logger.isLevelEnabled('info')) log().info({ ...fields, message: r.status?.message }, 'admission denied');
      } else if (logger.isLevelEnabled('debug')) log().debug({ ...fields, warnings: r.warnings?.length ?? 0 }, 'admission allowed');
      send(res, review);
    };

    // failurePolicy Fail semantics: never answer from caches that have not synced.
    if (!source.ready()) {
      const reasons = source.notReadyReasons();
      finish(unavailable(input.uid, `meshgate is not ready: ${reasons.length ? reasons.join('; ') : 'state not synced'}`), 'unavailable');
      return;
    }

    try {
      if (webhook === 'validate') {
        const outcome = validate(input, source.state, settings);
        const review = forValidation(input, outcome);
        finish(review, review.response.allowed ? 'allowed' : 'denied');
      } else {
        const outcome = mutate(input, source.state, settings);
        const review = forMutation(input.uid, outcome);
        const result: AdmissionResult = outcome.action === 'deny' ? 'denied' : review.response.patch ? 'patched' : 'skipped';
        finish(review, result);
      }
    } catch (err) {
      log().error({ err }, 'unexpected error deciding an admission request');
      finish(internalError(input.uid, `meshgate: internal error deciding admission request ${input.uid}; see the meshgate log`), 'error');
    }
  }

  /** One write per answer (headers and body in one TLS record where they fit), batched per loop turn. */
  const writes = new WriteBatcher((err) => logger.error({ err }, 'unexpected error writing an admission response'));
  function send(res: ServerResponse, review: AdmissionReviewResponse): void {
    writes.send(res, serializeReview(review));
  }

  const httpsServer = https.createServer(
    {
      ...secureContextOptions(opts.tls),
      handshakeTimeout: timeouts.handshakeMs,
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      keepAliveTimeout: timeouts.keepAliveMs,
      connectionsCheckingInterval: timeouts.checkIntervalMs,
      noDelay: true,
    },
    (req, res) => {
      // In-flight accounting for graceful shutdown; while draining, clients are told not to reuse the connection.
      inFlight++;
      if (draining) res.setHeader('Connection', 'close');
      res.once('close', requestDone);
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      if (path === '/validate') serveAdmission('validate', path, req, res);
      else if (path === '/mutate') serveAdmission('mutate', path, req, res);
      else app(req, res);
    },
  );
  // Set again on the instance: these are the knobs Node documents on http.Server.
  httpsServer.headersTimeout = timeouts.headersMs;
  httpsServer.requestTimeout = timeouts.requestMs;
  httpsServer.keepAliveTimeout = timeouts.keepAliveMs;
  httpsServer.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'TLS handshake failed'));

  let closing: Promise<void> | undefined;

  function setDraining(): void {
    if (!draining) logger.info('draining: readiness is now false');
    draining = true;
  }

  function waitIdle(): Promise<void> {
    return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve));
  }

  return {
    httpsServer,
    metrics,
    setProxyStatus(provider) {
      proxyStatus = provider;
    },
    listen(port: number, host = '0.0.0.0'): Promise<AddressInfo> {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        httpsServer.once('error', onError);
        httpsServer.listen(port, host, () => {
          httpsServer.off('error', onError);
          resolve(httpsServer.address() as AddressInfo);
        });
      });
    },
    updateTls(tls: TlsMaterial): void {
      const options = secureContextOptions(tls);
      // Build a context first: a mismatched or unreadable pair throws here and the old one stays.
      createSecureContext(options);
      httpsServer.setSecureContext(options);
      metrics.setCertificate(tls.cert);
      logger.info('serving certificate reloaded');
    },
    setDraining,
    close(): Promise<void> {
      if (closing) return closing;
      setDraining();
      closing = (async () => {
        const force = setTimeout(() => {
          logger.warn({ inFlight }, 'shutdown timeout: closing busy connections');
          httpsServer.closeAllConnections();
        }, shutdownTimeoutMs);
        force.unref();
        const closed = httpsServer.listening
          ? new Promise<void>((resolve) => httpsServer.close(() => resolve()))
          : Promise.resolve();
        // close() stops accepting and drops idle keep-alive connections; busy ones finish their request first.
        await waitIdle();
        httpsServer.closeIdleConnections();
        await closed;
        clearTimeout(force);
        logger.info('webhook server closed');
      })();
      return closing;
    },
  };
}
