import type { Request, Response } from 'express';
import type { StateSource } from '../state/mesh-state.js';

/**
 * Liveness and readiness. Liveness only says the process answers HTTP (restarting it would not
 * sync caches faster); readiness says admission answers come from synced state and the server is
 * not shutting down, so kube-proxy stops sending new connections before the process exits.
 */
export interface Readiness {
  ready(): boolean;
  reasons(): string[];
}

export function readinessOf(source: StateSource, isDraining: () => boolean): Readiness {
  return {
    ready: () => !isDraining() && source.ready(),
    reasons: () => [...(isDraining() ? ['shutting down'] : []), ...(source.ready() ? [] : source.notReadyReasons())],
  };
}

export function healthzHandler(_req: Request, res: Response): void {
  res.status(200).type('text/plain').send('ok\n');
}

export function readyzHandler(readiness: Readiness) {
  return (_req: Request, res: Response): void => {
    if (readiness.ready()) {
      res.status(200).type('text/plain').send('ok\n');
      return;
    }
    const reasons = readiness.reasons();
    res
      .status(503)
      .type('text/plain')
      .send(`not ready:\n${(reasons.length ? reasons : ['unknown']).map((r) => `- ${r}`).join('\n')}\n`);
  };
}
