import { serviceDnsNames, generateCA, generateServingCert } from './generate.js';
import {
  buildCertificateSecret,
  parseCertificateSecret,
  type CertificateState,
  type KeyPair,
  type SecretObject,
} from './certificate-secret.js';
import { notifyAll, silentLogger, systemClock, type CertificateSource, type CertLogger, type Clock, type TlsMaterial } from './certificate-source.js';
import { AlreadyExistsError, ConflictError, type CertificateKubeApi, type JsonPatchOp, type WebhookConfigurationKind } from './kube-certificate-api.js';
import { certificateFacts, joinPemBundle } from './pem.js';
import { planRotation, type RotationPolicy, type RotationStep } from './rotation-plan.js';

const DAY = 24 * 60 * 60 * 1000;

export interface CertificateManagerOptions {
  api: CertificateKubeApi;
  /** Namespace of the Secret and the Service (the control namespace). */
  namespace: string;
  /** The Secret holding CA and serving certificate, e.g. `meshgate-webhook-tls`. */
  secretName: string;
  /** The webhook Service; the serving certificate gets its DNS names (`<service>.<namespace>.svc` and shorter/longer forms). */
  serviceName: string;
  /** Webhook configurations whose every webhook gets the caBundle. */
  validatingWebhookConfiguration?: string;
  mutatingWebhookConfiguration?: string;
  clock?: Clock;
  logger?: CertLogger;
  /** Serving certificate lifetime (default 365 days; never beyond the CA's). */
  servingValidityDays?: number;
  /** CA lifetime (default 3650 days). */
  caValidityDays?: number;
  /** Renew at this fraction of a lifetime (default 2/3). */
  renewAtFraction?: number;
  /** How often each replica re-reads the Secret, renews if due and re-publishes the caBundle (default 60 s). */
  checkIntervalMs?: number;
  /** Wait between publishing a bundle with a new CA and signing with it (default 2 check intervals). */
  propagationMs?: number;
  /** How long old CAs stay trusted after the new CA signs (default 1 h; must exceed the check interval). */
  overlapMs?: number;
  keyType?: 'ec' | 'rsa';
  /** Labels put on the Secret. */
  labels?: Record<string, string>;
  /** Run `check()` every checkIntervalMs after start() (default true; tests drive check() themselves). */
  periodic?: boolean;
}

/** Write attempts per check before giving up until the next one (each lost race costs one). */
const MAX_ATTEMPTS = 8;

/**
 * Keeps the webhook's CA and serving certificate in a Secret shared by all replicas, publishes the
 * CA bundle into the webhook configurations, and renews before expiry (SPEC §6).
 *
 * Every replica runs the same loop: read the Secret, plan one step from its content and the time
 * (rotation-plan.ts), write it with the resourceVersion precondition, and on 409 re-read and adopt
 * what the winner wrote. Creating races the same way: 409 AlreadyExists → re-read and reuse. So
 * replicas converge on one Secret, and each then serves the Secret's certificate and patches the
 * Secret's bundle into every webhook of its configurations.
 */
export class CertificateManager implements CertificateSource {
  private readonly api: CertificateKubeApi;
  private readonly clock: Clock;
  private readonly logger: CertLogger;
  private readonly policy: RotationPolicy;
  private readonly servingValidityMs: number;
  private readonly caValidityMs: number;
  private readonly checkIntervalMs: number;
  private readonly listeners = new Set<(tls: TlsMaterial) => void>();
  private tls: TlsMaterial | undefined;
  private bundle: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly opts: CertificateManagerOptions) {
    this.api = opts.api;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.checkIntervalMs = opts.checkIntervalMs ?? 60_000;
    this.servingValidityMs = (opts.servingValidityDays ?? 365) * DAY;
    this.caValidityMs = (opts.caValidityDays ?? 3650) * DAY;
    const overlapMs = opts.overlapMs ?? 60 * 60 * 1000;
    if (overlapMs <= this.checkIntervalMs) {
      throw new Error(`certificate manager: overlapMs (${overlapMs}) must exceed checkIntervalMs (${this.checkIntervalMs}) so every replica loads the new certificate before old CAs are dropped`);
    }
    this.policy = {
      renewAtFraction: opts.renewAtFraction ?? 2 / 3,
      propagationMs: opts.propagationMs ?? 2 * this.checkIntervalMs,
      overlapMs,
      dnsNames: serviceDnsNames(opts.serviceName, opts.namespace),
    };
  }

  /** Creates or adopts the Secret, publishes the caBundle, and starts the periodic check (an unref'd timer). */
  async start(): Promise<TlsMaterial> {
    await this.check();
    if (!this.timer && this.opts.periodic !== false) {
      this.timer = setInterval(() => {
        this.check().catch((err: unknown) => this.logger.error({ err }, 'certificate check failed; retrying at the next interval'));
      }, this.checkIntervalMs);
      this.timer.unref();
    }
    return this.current();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  current(): TlsMaterial {
    if (!this.tls) throw new Error('certificate manager: not started');
    return this.tls;
  }

  /** The CAs currently trusted (PEM bundle), as published into the webhook configurations. */
  caBundle(): string {
    return joinPemBundle(this.bundle);
  }

  onChange(listener: (tls: TlsMaterial) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** One pass: settle the Secret, serve its certificate, publish its bundle. Concurrent calls share one pass. */
  check(): Promise<void> {
    this.running ??= this.checkOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async checkOnce(): Promise<void> {
    const { secret, state } = await this.settleSecret();
    this.adopt(state);
    const published = await this.publishBundle(state.bundle);
    if (published && state.next && state.bundlePublishedAt === undefined) {
      // The bundle with the next CA is in every webhook configuration: start the propagation wait.
      await this.write(secret, { ...state, bundlePublishedAt: this.clock.now() }).catch((err: unknown) => {
        if (!(err instanceof ConflictError)) throw err;
      });
    }
  }

  /** Reads, plans and writes until the Secret needs nothing (or another replica's write is adopted). */
  private async settleSecret(): Promise<{ secret: SecretObject; state: CertificateState }> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const secret = await this.api.readSecret(this.opts.namespace, this.opts.secretName);
      const now = this.clock.now();
      try {
        if (!secret) {
          const state = await this.freshState(now, []);
          this.logger.info({ secret: this.opts.secretName }, 'creating the webhook certificate Secret');
          const created = await this.api.createSecret(this.opts.namespace, this.secretFor(undefined, state));
          return { secret: created, state };
        }
        const parsed = parseCertificateSecret(secret);
        if (!parsed.ok) {
          this.logger.warn({ secret: this.opts.secretName, reason: parsed.reason }, 'webhook certificate Secret unusable; regenerating');
          await this.write(secret, await this.freshState(now, parsed.bundle));
          continue;
        }
        const step = planRotation(parsed.state, now, this.policy);
        if (step.kind === 'promote-next-ca' && !(await this.bundleIsPublished(parsed.state.bundle))) {
          // Someone changed a caBundle since it was stamped: publish again, then wait again.
          const { bundlePublishedAt: _dropped, ...rest } = parsed.state;
          await this.write(secret, rest);
          continue;
        }
        if (step.kind === 'none') return { secret, state: parsed.state };
        this.logger.info({ secret: this.opts.secretName, step: describe(step) }, 'webhook certificate rotation step');
        await this.write(secret, await this.apply(step, parsed.state, now));
      } catch (err) {
        if (err instanceof AlreadyExistsError || err instanceof ConflictError) {
          this.logger.info({ secret: this.opts.secretName, attempt }, 'another replica wrote the certificate Secret first; adopting it');
          continue;
        }
        throw err;
      }
    }
    throw new Error(`certificate manager: Secret ${this.opts.namespace}/${this.opts.secretName} kept changing during ${MAX_ATTEMPTS} attempts`);
  }

  private async apply(step: RotationStep, state: CertificateState, now: number): Promise<CertificateState> {
    switch (step.kind) {
      case 'none':
        return state;
      case 'regenerate':
        return this.freshState(now, []);
      case 'repair-bundle':
        return { ...state, bundle: uniqueByFingerprint([...state.bundle, state.ca.cert, ...(state.next ? [state.next.cert] : [])]) };
      case 'start-ca-rotation': {
        const next = await this.newCA(now);
        return { ...state, next, bundle: uniqueByFingerprint([...state.bundle, next.cert]), bundlePublishedAt: undefined };
      }
      case 'promote-next-ca': {
        const ca = state.next!;
        const serving = await this.newServing(ca, now);
        const { next: _next, bundlePublishedAt: _published, ...rest } = state;
        return { ...rest, ca, serving, retireOldCasAt: now + this.policy.overlapMs };
      }
      case 'retire-old-cas': {
        const { retireOldCasAt: _retire, ...rest } = state;
        return { ...rest, bundle: [state.ca.cert] };
      }
      case 'renew-serving':
        return { ...state, serving: await this.newServing(state.ca, now) };
    }
  }

  private async write(base: SecretObject, state: CertificateState): Promise<SecretObject> {
    return this.api.replaceSecret(this.opts.namespace, this.secretFor(base, clean(state)));
  }

  private secretFor(base: SecretObject | undefined, state: CertificateState): SecretObject {
    return buildCertificateSecret(base, this.opts.secretName, this.opts.namespace, state, {
      'app.kubernetes.io/name': 'meshgate',
      'app.kubernetes.io/managed-by': 'meshgate',
      ...(this.opts.labels ?? {}),
    });
  }

  /** A new CA and serving certificate; `trusted` are CAs to keep in the bundle while it is republished. */
  private async freshState(now: number, trusted: string[]): Promise<CertificateState> {
    const ca = await this.newCA(now);
    const serving = await this.newServing(ca, now);
    const stillValid = trusted.filter((pem) => certificateFacts(pem).notAfter > now);
    const keepOld = stillValid.length > 0;
    return {
      ca,
      serving,
      bundle: uniqueByFingerprint([...stillValid, ca.cert]),
      ...(keepOld ? { retireOldCasAt: now + this.policy.overlapMs } : {}),
    };
  }

  private async newCA(now: number): Promise<KeyPair> {
    // A unique subject per CA (like client-go's `<name>-ca@<unix time>`): verifiers look issuers up
    // by subject, and two CAs with one subject in a bundle could be confused.
    const commonName = `meshgate-ca.${this.opts.namespace}@${Math.floor(now / 1000)}-${Math.random().toString(36).slice(2, 8)}`;
    return generateCA({ commonName, validityDays: this.caValidityMs / DAY, now: new Date(now), keyType: this.opts.keyType });
  }

  private async newServing(ca: KeyPair, now: number): Promise<KeyPair> {
    const caLeft = certificateFacts(ca.cert).notAfter - now;
    const validityMs = Math.min(this.servingValidityMs, caLeft);
    return generateServingCert(ca, {
      dnsNames: this.policy.dnsNames,
      validityDays: validityMs / DAY,
      now: new Date(now),
      keyType: this.opts.keyType,
    });
  }

  private adopt(state: CertificateState): void {
    this.bundle = state.bundle;
    const next = { cert: state.serving.cert, key: state.serving.key };
    if (this.tls && this.tls.cert === next.cert && this.tls.key === next.key) return;
    const first = this.tls === undefined;
    this.tls = next;
    if (!first) {
      this.logger.info({ notAfter: new Date(certificateFacts(next.cert).notAfter).toISOString() }, 'serving certificate changed; reloading');
      notifyAll(this.listeners, next, this.logger);
    }
  }

  private configurations(): Array<[WebhookConfigurationKind, string]> {
    const out: Array<[WebhookConfigurationKind, string]> = [];
    if (this.opts.validatingWebhookConfiguration) out.push(['validating', this.opts.validatingWebhookConfiguration]);
    if (this.opts.mutatingWebhookConfiguration) out.push(['mutating', this.opts.mutatingWebhookConfiguration]);
    return out;
  }

  /**
   * Patches the bundle into every webhook whose caBundle differs: one JSON patch per
   * configuration, each change guarded by a `test` of the webhook's name at that index (so a
   * reordered list fails the patch instead of touching the wrong webhook). True when all of them
   * now carry it. A missing configuration (install not applied yet) is retried at the next check.
   */
  private async publishBundle(bundle: string[]): Promise<boolean> {
    const caBundle = Buffer.from(joinPemBundle(bundle)).toString('base64');
    let all = true;
    for (const [kind, name] of this.configurations()) {
      try {
        const config = await this.api.readWebhookConfiguration(kind, name);
        if (!config) {
          this.logger.warn({ kind, name }, 'webhook configuration not found; caBundle not published yet');
          all = false;
          continue;
        }
        const patch: JsonPatchOp[] = [];
        (config.webhooks ?? []).forEach((w, i) => {
          if (w.clientConfig?.caBundle === caBundle) return;
          patch.push({ op: 'test', path: `/webhooks/${i}/name`, value: w.name });
          patch.push(
            w.clientConfig
              ? { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle }
              : { op: 'add', path: `/webhooks/${i}/clientConfig`, value: { caBundle } },
          );
        });
        if (patch.length > 0) {
          await this.api.patchWebhookConfiguration(kind, name, patch);
          this.logger.info({ kind, name, webhooks: patch.length / 2 }, 'published caBundle');
        }
      } catch (err) {
        this.logger.warn({ err, kind, name }, 'could not publish caBundle; retrying at the next check');
        all = false;
      }
    }
    return all;
  }

  /** True when every webhook of every configuration carries exactly `bundle`. */
  private async bundleIsPublished(bundle: string[]): Promise<boolean> {
    const caBundle = Buffer.from(joinPemBundle(bundle)).toString('base64');
    for (const [kind, name] of this.configurations()) {
      const config = await this.api.readWebhookConfiguration(kind, name).catch(() => undefined);
      if (!config || !(config.webhooks ?? []).every((w) => w.clientConfig?.caBundle === caBundle)) return false;
    }
    return true;
  }
}

function describe(step: RotationStep): string {
  return 'reason' in step ? `${step.kind} (${step.reason})` : step.kind;
}

/** Drops undefined optional fields (so they are absent from the Secret). */
function clean(state: CertificateState): CertificateState {
  const out: CertificateState = { ca: state.ca, serving: state.serving, bundle: state.bundle };
  if (state.next) out.next = state.next;
  if (state.bundlePublishedAt !== undefined) out.bundlePublishedAt = state.bundlePublishedAt;
  if (state.retireOldCasAt !== undefined) out.retireOldCasAt = state.retireOldCasAt;
  return out;
}

function uniqueByFingerprint(pems: string[]): string[] {
  const seen = new Set<string>();
  return pems.filter((pem) => {
    const fp = certificateFacts(pem).fingerprint256;
    if (seen.has(fp)) return false;
    seen.add(fp);
    return true;
  });
}
