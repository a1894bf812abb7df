import { MESHGATE_DOMAIN, meshKeys, type Profile } from '../profile.js';
import { quote } from '../vocabulary/field-errors.js';
import { imageReferenceError } from '../vocabulary/image-reference.js';
import { IPTABLES_BACKENDS, SIDECAR_MODES, type IptablesBackend, type SidecarMode } from '../settings.js';

/** meshgate's own per-pod annotations (SPEC §5). */
export const MESHGATE_ANNOTATIONS = {
  status: `${MESHGATE_DOMAIN}/status`,
  sidecarMode: `${MESHGATE_DOMAIN}/sidecar-mode`,
  iptablesBackend: `${MESHGATE_DOMAIN}/iptables-backend`,
  sidecarImage: `${MESHGATE_DOMAIN}/sidecar-image`,
} as const;

/** A value parsed from an annotation, or the one-line reason it is unusable. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const ENABLED = ['enabled', 'yes', 'true'];
const DISABLED = ['disabled', 'no', 'false'];

/** Where an annotation was read from, for messages. */
export type AnnotationOwner = 'pod' | { namespace: string };

function ownerText(owner: AnnotationOwner): string {
  return owner === 'pod' ? 'pod annotation' : `annotation on namespace "${owner.namespace}"`;
}

/**
 * `D/sidecar-injection` (SPEC §2): enabled|yes|true or disabled|no|false, case-insensitive.
 * Absent → undefined. Anything else is an error naming the annotation and the value.
 */
export function parseSidecarInjection(
  profile: Profile,
  annotations: Record<string, string> | undefined,
  owner: AnnotationOwner,
): Parsed<boolean | undefined> {
  const key = meshKeys(profile).sidecarInjection;
  const raw = annotations?.[key];
  if (raw === undefined) return { ok: true, value: undefined };
  const v = raw.trim().toLowerCase();
  if (ENABLED.includes(v)) return { ok: true, value: true };
  if (DISABLED.includes(v)) return { ok: true, value: false };
  return {
    ok: false,
    message: `${ownerText(owner)} ${key}: invalid value ${JSON.stringify(raw)}: use one of enabled, yes, true, disabled, no, false`,
  };
}

function parseEnum<T extends string>(
  key: string,
  allowed: readonly T[],
  annotations: Record<string, string> | undefined,
  fallback: T,
): Parsed<T> {
  const raw = annotations?.[key];
  if (raw === undefined) return { ok: true, value: fallback };
  const v = raw.trim().toLowerCase();
  if ((allowed as readonly string[]).includes(v)) return { ok: true, value: v as T };
  return { ok: false, message: `pod annotation ${key}: invalid value ${JSON.stringify(raw)}: use one of ${allowed.join(', ')}` };
}

/** `meshgate.io/sidecar-mode: native|classic` overrides the mesh-wide sidecar mode for one pod. */
export function parseSidecarMode(annotations: Record<string, string> | undefined, fallback: SidecarMode): Parsed<SidecarMode> {
  return parseEnum(MESHGATE_ANNOTATIONS.sidecarMode, SIDECAR_MODES, annotations, fallback);
}

/** `meshgate.io/iptables-backend: auto|nft|legacy` overrides the mesh-wide backend for one pod. */
export function parseIptablesBackend(
  annotations: Record<string, string> | undefined,
  fallback: IptablesBackend,
): Parsed<IptablesBackend> {
  return parseEnum(MESHGATE_ANNOTATIONS.iptablesBackend, IPTABLES_BACKENDS, annotations, fallback);
}

/** Splits a comma list annotation into trimmed, non-empty entries. */
export function splitList(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * `meshgate.io/sidecar-image: REF` runs one pod's proxy from another image (a canary Envoy, a
 * mirrored registry), as Istio's `sidecar.istio.io/proxyImage` does. Absent → undefined.
 */
export function parseSidecarImage(annotations: Record<string, string> | undefined): Parsed<string | undefined> {
  const key = MESHGATE_ANNOTATIONS.sidecarImage;
  const raw = annotations?.[key];
  if (raw === undefined) return { ok: true, value: undefined };
  const problem = imageReferenceError(raw.trim());
  if (problem) return { ok: false, message: `pod annotation ${key}: invalid value ${quote(raw)}: ${problem}` };
  return { ok: true, value: raw.trim() };
}
