/**
 * The renderer's own guard rails: family splitting, canonical CIDRs, that no option value can carry
 * shell or iptables-restore syntax into the init container's script, that the script stays small
 * (it travels in every admission response), and exactly what it feeds to *tables-restore (stub
 * tools in a network namespace, no netfilter). What the rules do is proven with real traffic in
 * interception.test.ts.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkInterceptionOptions } from '../../src/injector/iptables/checked-options.js';
import { natRuleLines } from '../../src/injector/iptables/nat-rules.js';
import { interfaceNameProblem } from '../../src/vocabulary/interface-name.js';
import {
  InterceptionOptionError,
  normalizeCidr,
  quoteRuleLines,
  renderInterceptionScript,
  splitByFamily,
  splitShared,
  type InterceptionOptions,
} from '../../src/injector/iptables/script.js';
import { NetnsRig, assertRoot } from '../support/netns/rig.js';
import { PROPERTY_SEED } from '../support/property-seed.js';

const base: InterceptionOptions = {
  chainPrefix: 'OSM_',
  proxyUid: 1500,
  outboundPort: 15001,
  clusterCIDRs: ['10.96.0.0/12'],
  excludeCIDRs: [],
  includeCIDRs: [],
  excludePorts: [],
  excludeInterfaces: [],
  backend: 'auto',
};

describe('interception script renderer', () => {
  it('splits CIDRs by family in canonical form, de-duplicated, order kept', () => {
    expect(splitByFamily(['10.1.2.3/8', 'FD00:0:0::1/64', '192.0.2.1', '10.0.0.0/8', '::1', '::ffff:10.0.0.1/128'])).to.deep.equal({
      ipv4: ['10.0.0.0/8', '192.0.2.1/32'],
      ipv6: ['fd00::/64', '::1/128', '::ffff:a00:1/128'],
    });
    expect(normalizeCidr('2001:db8::5/48')).to.deep.equal({ family: 'ipv6', cidr: '2001:db8::/48' });
  });

  it('rejects what ipaddr.js alone would accept but iptables reads differently', () => {
    for (const bad of ['0x7f.1/8', '127.1', '010.0.0.0/8', 'fe80::1%eth0/64', '10.0.0.0/33', '10.0.0.0/08', '::/129', '10.0.0.0/', '', ' 10.0.0.0/8']) {
      expect(() => normalizeCidr(bad), bad).to.throw(InterceptionOptionError);
    }
  });

  it('names the option and the value it refuses', () => {
    expect(() => renderInterceptionScript({ ...base, excludeCIDRs: ['10.0.0.0/8', '$(reboot)'] })).to.throw(
      InterceptionOptionError,
      'interception option excludeCIDRs[1]: "$(reboot)" is not an IPv4 or IPv6 CIDR',
    );
  });

  it('refuses every option value that is not a plain CIDR, port, UID, interface, prefix or backend', () => {
    const bad: Partial<InterceptionOptions>[] = [
      { clusterCIDRs: ['$(reboot)'] },
      { includeCIDRs: ['10.0.0.0/8`id`'] },
      { excludeInterfaces: ['eth0 -j ACCEPT'] },
      { excludeInterfaces: ['eth$IFS'] },
      { excludeInterfaces: ['a-very-long-interface'] },
      { excludeInterfaces: ['..'] },
      { excludeInterfaces: ['!eth0'] },
      { chainPrefix: "OSM_'; reboot; '" },
      { chainPrefix: 'osm_' },
      { chainPrefix: 'ABCDEFGHIJK_' },
      { excludePorts: [0] },
      { excludePorts: [65536] },
      { excludePorts: [80.5] },
      { excludePorts: ['80' as unknown as number] },
      { outboundPort: -1 },
      { proxyUid: -1 },
      { proxyUid: 1.5 },
      { backend: 'iptables' as unknown as InterceptionOptions['backend'] },
    ];
    for (const o of bad) expect(() => renderInterceptionScript({ ...base, ...o }), JSON.stringify(o)).to.throw(InterceptionOptionError);
  });

  it('accepts kernel interface names, including iptables\' trailing + wildcard', () => {
    for (const name of ['eth0', 'eth0+', 'veth@1', 'br-1a2b.100', 'cali_x']) expect(interfaceNameProblem(name), name).to.equal(undefined);
    for (const name of ['-j', '+eth', 'eth0 x', 'a/b', 'a:b', '', 'x'.repeat(16)]) expect(interfaceNameProblem(name), name).to.be.a('string');
  });

  it('keeps every option value inside single-quoted words: the shell skeleton never changes (property)', () => {
    // The script with every '...' word emptied: what the shell parses outside the quoted rule text.
    const skeleton = (script: string) => script.replace(/'[^']*'/g, "''");
    // mostly plausible values (so most runs render), with arbitrary and hostile strings mixed in
    const cidr = fc.oneof(
      { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
      { arbitrary: fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`), weight: 6 },
      { arbitrary: fc.ipV6(), weight: 6 },
      { arbitrary: fc.constantFrom("10.0.0.0/8'", '10.0.0.0/8\n-A OUTPUT -j ACCEPT', '::1/128$(id)', '10.0.0.0/8 -j ACCEPT'), weight: 1 },
    );
    const iface = fc.oneof(
      { arbitrary: fc.string({ maxLength: 20 }), weight: 1 },
      { arbitrary: fc.stringMatching(/^[a-z0-9_][a-z0-9_.@+-]{0,14}$/), weight: 8 },
      { arbitrary: fc.constantFrom("eth0'", 'eth0;id', 'eth0\n', 'eth$1'), weight: 1 },
    );
    const backend = fc.constantFrom('auto', 'nft', 'legacy') as fc.Arbitrary<InterceptionOptions['backend']>;
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(cidr, { maxLength: 3 }), fc.array(cidr, { maxLength: 3 }), fc.array(iface, { maxLength: 2 }), fc.array(fc.integer({ min: 1, max: 65535 }), { maxLength: 20 }), backend, (clusterCIDRs, excludeCIDRs, excludeInterfaces, excludePorts, b) => {
        let script: string;
        try {
          script = renderInterceptionScript({ ...base, clusterCIDRs, excludeCIDRs, excludeInterfaces, excludePorts, backend: b });
        } catch (err) {
          return err instanceof InterceptionOptionError;
        }
        accepted++;
        return skeleton(script) === skeleton(renderInterceptionScript({ ...base, backend: b }));
      }),
      { seed: PROPERTY_SEED, numRuns: 500 },
    );
    // not a vacuous property: a good share of the runs did render a script
    expect(accepted).to.be.greaterThan(100);
  });

  it('refuses to quote a rule line that could end the quoting or split a rule', () => {
    expect(quoteRuleLines(['-A X -o lo -j RETURN', ':X - [0:0]'])).to.equal("'-A X -o lo -j RETURN\n:X - [0:0]'");
    for (const bad of ["-A X -o a'b -j RETURN", '-A X\n-A Y', '-A X $(id)', '-A X `id`', '-A X \\', '-A X "', '-A X\r', '-A X\0']) {
      expect(() => quoteRuleLines([bad]), JSON.stringify(bad)).to.throw('not shell-safe');
    }
  });

  it('carries the lines both families share once, and each family gets back exactly its own list', () => {
    const o = checkInterceptionOptions({ ...base, clusterCIDRs: ['10.96.0.0/12', 'fd00::/108'], excludePorts: [5432], excludeInterfaces: ['eth1'] });
    const v4 = natRuleLines(o, 'ipv4');
    const v6 = natRuleLines(o, 'ipv6');
    const shared = splitShared(v4, v6);
    expect([...shared.head, ...shared.ipv4, ...shared.tail]).to.deep.equal(v4);
    expect([...shared.head, ...shared.ipv6, ...shared.tail]).to.deep.equal(v6);
    expect(shared.head).to.include('-A OSM_PROXY_OUTBOUND -p tcp --dport 5432 -j RETURN');
    expect(shared.ipv4).to.deep.equal(['-A OSM_PROXY_OUTBOUND -d 127.0.0.0/8 -j RETURN', '-A OSM_PROXY_OUTBOUND -d 10.96.0.0/12 -j RETURN']);
    expect(shared.ipv6).to.deep.equal(['-A OSM_PROXY_OUTBOUND -d ::1/128 -j RETURN', '-A OSM_PROXY_OUTBOUND -d fd00::/108 -j RETURN']);
    expect(shared.tail).to.deep.equal(['-A OSM_PROXY_OUTBOUND -j OSM_PROXY_OUT_REDIRECT']);
    // every RETURN comes before the first redirection, so sharing never reorders a decision
    for (const lines of [v4, v6]) {
      const firstRedirect = lines.findIndex((l) => l.startsWith('-A OSM_PROXY_OUTBOUND') && l.endsWith('-j OSM_PROXY_OUT_REDIRECT'));
      expect(lines.slice(firstRedirect).some((l) => l.endsWith('-j RETURN'))).to.equal(false);
    }
    expect(splitShared(['a', 'x', 'z'], ['a', 'z'])).to.deep.equal({ head: ['a'], ipv4: ['x'], ipv6: [], tail: ['z'] });
    expect(splitShared(['a'], ['a'])).to.deep.equal({ head: ['a'], ipv4: [], ipv6: [], tail: [] });
  });

  it('keeps the default script small: at most 1,500 bytes (it is in every admission response)', () => {
    const script = renderInterceptionScript({ ...base, clusterCIDRs: [] });
    expect(Buffer.byteLength(script), script).to.be.at.most(1500);
    expect(script.split('\n').filter((l) => l.startsWith('#'))).to.have.length.at.most(3);
  });

  it('uses REDIRECT --to-ports (plural) and splits long port lists into multiport rules of 15', () => {
    const ports = Array.from({ length: 20 }, (_, i) => 9000 + i);
    const options = { ...base, excludePorts: [...ports, 9000] };
    const script = renderInterceptionScript(options);
    expect(script).to.include('-j REDIRECT --to-ports 15001');
    expect(script).not.to.match(/--to-port /);
    const chunks = [
      `-A OSM_PROXY_OUTBOUND -p tcp -m multiport --dports ${ports.slice(0, 15).join(',')} -j RETURN`,
      `-A OSM_PROXY_OUTBOUND -p tcp -m multiport --dports ${ports.slice(15).join(',')} -j RETURN`,
    ];
    const o = checkInterceptionOptions(options);
    for (const family of ['ipv4', 'ipv6'] as const) {
      expect(natRuleLines(o, family).filter((l) => l.includes('--dports'))).to.deep.equal(chunks);
    }
    // one copy of each chunk in the script, shared by the IPv4 and IPv6 transactions
    for (const line of chunks) expect(script.split(line)).to.have.length(2);
  });

  it('renders a script that dash parses', async () => {
    const { execFileSync } = await import('node:child_process');
    const script = renderInterceptionScript({
      ...base,
      excludeCIDRs: ['192.0.2.0/24', '2001:db8::/32'],
      includeCIDRs: ['203.0.113.0/24'],
      excludePorts: [5432],
      excludeInterfaces: ['eth1'],
    });
    expect(() => execFileSync('/bin/sh', ['-n', '-c', script])).not.to.throw();
  });
});

/**
 * What the script hands to *tables-restore, read back from stub tools (a PATH of shell scripts that
 * record their stdin) inside a network namespace with IPv6, so /proc/net/if_inet6 is the rig's.
 */
describe('interception script input to *tables-restore (stub tools)', function () {
  this.timeout(30_000);
  before(assertRoot);

  const JUMP = '-A OUTPUT -p tcp -j OSM_PROXY_OUTBOUND';
  let rig: NetnsRig | undefined;
  let rigV4Only: NetnsRig | undefined;
  const dirs: string[] = [];
  before(async () => {
    rig = await NetnsRig.create();
    rigV4Only = await NetnsRig.create({ ipv6: false });
  });
  after(async () => {
    await rig?.destroy();
    await rigV4Only?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /**
   * A PATH directory: each `*-restore` records its stdin in `<itself>.in`; each control tool answers
   * `-C` with success only when `<itself>.jump` exists, `--version` with `version`, and fails otherwise
   * (so `-S CHAIN` says the chain is not there).
   */
  function stubTools(restores: string[], controls: string[], version = ''): string {
    const dir = mkdtempSync(join(tmpdir(), 'mg-stub-'));
    dirs.push(dir);
    const write = (name: string, body: string) => {
      writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(dir, name), 0o755);
    };
    for (const name of restores) write(name, 'exec /bin/cat >"$0.in"');
    for (const name of controls) {
      write(name, `case "$*" in *--version*) echo '${version}';; *-C*) [ -e "$0.jump" ];; *) exit 1;; esac`);
    }
    return dir;
  }
  const restoreInput = (o: InterceptionOptions, family: 'ipv4' | 'ipv6', jump: string) =>
    ['*nat', ...natRuleLines(checkInterceptionOptions(o), family), jump, 'COMMIT', ''].join('\n');
  const recorded = (dir: string, name: string) => readFileSync(join(dir, `${name}.in`), 'utf8');

  const rich: InterceptionOptions = {
    ...base,
    clusterCIDRs: ['10.96.0.0/12', 'fd00::/108'],
    excludeCIDRs: ['192.0.2.0/24', '2001:db8::/32'],
    excludePorts: Array.from({ length: 17 }, (_, i) => 9000 + i),
    excludeInterfaces: ['eth1', 'veth+'],
  };

  it("feeds each family's full rule list and the OUTPUT jump, then a '#' line once the jump exists", async () => {
    const dir = stubTools(['iptables-nft-restore', 'ip6tables-nft-restore'], ['iptables-nft', 'ip6tables-nft']);
    const script = renderInterceptionScript(rich);
    const first = await rig!.runScript(script, { path: dir });
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.include('done: backend nft (requested auto)');
    expect(recorded(dir, 'iptables-nft-restore')).to.equal(restoreInput(rich, 'ipv4', JUMP));
    expect(recorded(dir, 'ip6tables-nft-restore')).to.equal(restoreInput(rich, 'ipv6', JUMP));

    for (const tool of ['iptables-nft', 'ip6tables-nft']) writeFileSync(join(dir, `${tool}.jump`), '');
    const again = await rig!.runScript(script, { path: dir });
    expect(again.code, again.stderr).to.equal(0);
    expect(recorded(dir, 'iptables-nft-restore')).to.equal(restoreInput(rich, 'ipv4', '#'));
    expect(recorded(dir, 'ip6tables-nft-restore')).to.equal(restoreInput(rich, 'ipv6', '#'));
  });

  it('with an inclusion list, each family gets only its own redirections', async () => {
    const dir = stubTools(['iptables-legacy-restore', 'ip6tables-legacy-restore'], ['iptables-legacy', 'ip6tables-legacy']);
    const o: InterceptionOptions = { ...rich, includeCIDRs: ['203.0.113.0/24'], backend: 'legacy' };
    const r = await rig!.runScript(renderInterceptionScript(o), { path: dir });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('done: backend legacy (requested legacy)');
    expect(recorded(dir, 'iptables-legacy-restore')).to.equal(restoreInput(o, 'ipv4', JUMP));
    expect(recorded(dir, 'iptables-legacy-restore')).to.include('-A OSM_PROXY_OUTBOUND -d 203.0.113.0/24 -j OSM_PROXY_OUT_REDIRECT');
    expect(recorded(dir, 'ip6tables-legacy-restore')).to.equal(restoreInput(o, 'ipv6', JUMP));
    expect(recorded(dir, 'ip6tables-legacy-restore')).not.to.include('-j OSM_PROXY_OUT_REDIRECT\n');
  });

  it('uses the plain tool names when their --version shows the backend', async () => {
    const plain = (version: string) => stubTools(['iptables-restore', 'ip6tables-restore'], ['iptables', 'ip6tables'], version);
    const nftDir = plain('iptables v1.8.9 (nf_tables)');
    const onNft = await rig!.runScript(renderInterceptionScript(rich), { path: nftDir });
    expect(onNft.code, onNft.stderr).to.equal(0);
    expect(onNft.stdout).to.include('done: backend nft (requested auto)');
    expect(recorded(nftDir, 'ip6tables-restore')).to.equal(restoreInput(rich, 'ipv6', JUMP));

    const legacyDir = plain('iptables v1.8.9 (legacy)');
    const onLegacy = await rig!.runScript(renderInterceptionScript(rich), { path: legacyDir });
    expect(onLegacy.code, onLegacy.stderr).to.equal(0);
    expect(onLegacy.stdout).to.include('meshgate-init: no iptables tools for nft');
    expect(onLegacy.stdout).to.include('backend nft could not apply the IPv4 rules');
    expect(onLegacy.stdout).to.include('done: backend legacy (requested auto)');
    expect(recorded(legacyDir, 'iptables-restore')).to.equal(restoreInput(rich, 'ipv4', JUMP));

    const refused = await rig!.runScript(renderInterceptionScript({ ...rich, backend: 'nft' }), { path: plain('iptables v1.8.9 (legacy)') });
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.equal('meshgate-init: error: no iptables backend could apply the rules\n');
  });

  it('needs no ip6tables in a pod without IPv6, and stops when the pod has IPv6 but no ip6tables', async () => {
    const dir = stubTools(['iptables-nft-restore'], ['iptables-nft']);
    const script = renderInterceptionScript(rich);
    const v4only = await rigV4Only!.runScript(script, { path: dir });
    expect(v4only.code, v4only.stderr).to.equal(0);
    expect(v4only.stderr).to.equal('');
    expect(v4only.stdout).to.include('meshgate-init: no IPv6 in this pod network namespace');
    expect(recorded(dir, 'iptables-nft-restore')).to.equal(restoreInput(rich, 'ipv4', JUMP));

    const dual = await rig!.runScript(script, { path: dir });
    expect(dual.code).to.equal(1);
    expect(dual.stdout).to.include('meshgate-init: no ip6tables tools for nft');
    expect(dual.stderr).to.equal('meshgate-init: error: the pod has IPv6 but ip6tables (nft) could not apply the rules\n');
  });
});
