import { Option, type Command } from 'commander';
import ipaddr from 'ipaddr.js';
import {
  BYPASS_GUARD_MODES,
  DEFAULT_SETTINGS,
  GUARD_SETTING_FLAGS,
  IPTABLES_BACKENDS,
  POD_OPT_OUT_MODES,
  SIDECAR_MODES,
  type MeshgateSettings,
} from '../settings.js';
import { UserError } from './errors.js';

/**
 * Mesh-wide settings as command-line flags, each with an environment variable (the Deployment sets
 * those). Values are checked here, at the edge, so the core receives exact types.
 */
export interface SettingsOptionValues {
  clusterCidrs?: string;
  sidecarMode?: string;
  bypassGuard?: string;
  podOptOut?: string;
  iptablesBackend?: string;
  sidecarImage?: string;
  initImage?: string;
}

interface SettingFlag {
  flag: string;
  key: keyof SettingsOptionValues;
  env: string;
}

export const SETTINGS_FLAGS = {
  clusterCidrs: { flag: '--cluster-cidrs', key: 'clusterCidrs', env: 'MESHGATE_CLUSTER_CIDRS' },
  sidecarMode: { flag: '--sidecar-mode', key: 'sidecarMode', env: 'MESHGATE_SIDECAR_MODE' },
  bypassGuard: { ...GUARD_SETTING_FLAGS.bypassGuard, key: 'bypassGuard' },
  podOptOut: { ...GUARD_SETTING_FLAGS.podOptOut, key: 'podOptOut' },
  iptablesBackend: { flag: '--iptables-backend', key: 'iptablesBackend', env: 'MESHGATE_IPTABLES_BACKEND' },
  sidecarImage: { flag: '--sidecar-image', key: 'sidecarImage', env: 'MESHGATE_SIDECAR_IMAGE' },
  initImage: { flag: '--init-image', key: 'initImage', env: 'MESHGATE_INIT_IMAGE' },
} as const satisfies Record<keyof SettingsOptionValues, SettingFlag>;

export function addSettingsOptions(cmd: Command): Command {
  const f = SETTINGS_FLAGS;
  return cmd
    .addOption(
      new Option(`${f.clusterCidrs.flag} <cidrs>`, 'in-cluster pod and service CIDRs, comma-separated; never intercepted').env(f.clusterCidrs.env),
    )
    .addOption(
      new Option(`${f.sidecarMode.flag} <mode>`, `where the proxy goes: ${SIDECAR_MODES.join(' | ')} (native needs Kubernetes >= 1.29)`)
        .env(f.sidecarMode.env)
        .default(DEFAULT_SETTINGS.sidecarMode),
    )
    .addOption(
      new Option(`${f.bypassGuard.flag} <mode>`, `pods that could bypass the proxy: ${BYPASS_GUARD_MODES.join(' | ')}`)
        .env(f.bypassGuard.env)
        .default(DEFAULT_SETTINGS.bypassGuard),
    )
    .addOption(
      new Option(`${f.podOptOut.flag} <mode>`, `pods that opt out of the sidecar in an enrolled namespace: ${POD_OPT_OUT_MODES.join(' | ')}`)
        .env(f.podOptOut.env)
        .default(DEFAULT_SETTINGS.podOptOut),
    )
    .addOption(
      new Option(`${f.iptablesBackend.flag} <backend>`, `iptables used by the init container: ${IPTABLES_BACKENDS.join(' | ')}`)
        .env(f.iptablesBackend.env)
        .default(DEFAULT_SETTINGS.iptablesBackend),
    )
    .addOption(
      new Option(`${f.sidecarImage.flag} <image>`, 'proxy image when the MeshConfig names none')
        .env(f.sidecarImage.env)
        .default(DEFAULT_SETTINGS.defaultSidecarImage),
    )
    .addOption(
      new Option(`${f.initImage.flag} <image>`, 'init (iptables) image when the MeshConfig names none')
        .env(f.initImage.env)
        .default(DEFAULT_SETTINGS.defaultInitImage),
    );
}

function named(f: SettingFlag): string {
  return `${f.flag} (${f.env})`;
}

function oneOf<T extends string>(f: SettingFlag, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined || value === '') return fallback;
  const v = value.trim().toLowerCase();
  if ((allowed as readonly string[]).includes(v)) return v as T;
  throw new UserError(`${named(f)}: unknown value ${JSON.stringify(value)}: use one of ${allowed.join(', ')}`);
}

/** A comma list of IPv4/IPv6 CIDRs; each entry must parse, and is returned in canonical form. */
export function parseCidrList(f: SettingFlag, value: string | undefined): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
      parsed = ipaddr.parseCIDR(entry);
    } catch {
      throw new UserError(`${named(f)}: ${JSON.stringify(entry)} is not a CIDR: use a comma list like 10.244.0.0/16,10.96.0.0/12,fd00::/48`);
    }
    const [addr, bits] = parsed;
    out.push(`${addr.toString()}/${bits}`);
  }
  return [...new Set(out)];
}

function image(f: SettingFlag, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  const v = value.trim();
  // An image reference has no whitespace; the registry's own grammar is checked where it is pulled.
  if (!v || /\s/.test(v)) throw new UserError(`${named(f)}: ${JSON.stringify(value)} is not an image reference: use e.g. registry.example/envoy:v1.34.1`);
  return v;
}

/** The MeshgateSettings the flags (or their environment variables) select. */
export function settingsFrom(opts: SettingsOptionValues, base: MeshgateSettings = DEFAULT_SETTINGS): MeshgateSettings {
  const f = SETTINGS_FLAGS;
  return {
    ...base,
    clusterCIDRs: opts.clusterCidrs === undefined ? base.clusterCIDRs : parseCidrList(f.clusterCidrs, opts.clusterCidrs),
    sidecarMode: oneOf(f.sidecarMode, opts.sidecarMode, SIDECAR_MODES, base.sidecarMode),
    bypassGuard: oneOf(f.bypassGuard, opts.bypassGuard, BYPASS_GUARD_MODES, base.bypassGuard),
    podOptOut: oneOf(f.podOptOut, opts.podOptOut, POD_OPT_OUT_MODES, base.podOptOut),
    iptablesBackend: oneOf(f.iptablesBackend, opts.iptablesBackend, IPTABLES_BACKENDS, base.iptablesBackend),
    defaultSidecarImage: image(f.sidecarImage, opts.sidecarImage, base.defaultSidecarImage),
    defaultInitImage: image(f.initImage, opts.initImage, base.defaultInitImage),
  };
}
