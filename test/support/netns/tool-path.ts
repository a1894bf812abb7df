/**
 * A PATH directory for the interception script with a chosen set of iptables commands: real ones
 * linked from the system, and stubs that fail like an iptables whose kernel backend is missing.
 * Lets the tests show the auto fallback and the loud failure without changing the host.
 */
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SBIN = '/usr/sbin';

export interface ToolPath {
  /** Use as PATH: the directory only (the script needs nothing else; its shell is /bin/sh). */
  path: string;
  remove(): void;
}

export function toolPath(o: { real?: string[]; broken?: string[] }): ToolPath {
  const dir = mkdtempSync(join(tmpdir(), 'mg-tools-'));
  for (const name of o.real ?? []) symlinkSync(join(SBIN, name), join(dir, name));
  for (const name of o.broken ?? []) {
    const file = join(dir, name);
    writeFileSync(file, `#!/bin/sh\necho "${name}: Could not fetch rule set generation id: Invalid argument (stub: no nf_tables)" >&2\nexit 1\n`);
    chmodSync(file, 0o755);
  }
  return { path: dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export const LEGACY_TOOLS = ['iptables-legacy', 'iptables-legacy-restore', 'ip6tables-legacy', 'ip6tables-legacy-restore'];
export const NFT_TOOLS = ['iptables-nft', 'iptables-nft-restore', 'ip6tables-nft', 'ip6tables-nft-restore'];
