/**
 * The interception script proven with real connections through the kernel's netfilter: the
 * rendered script runs verbatim with /bin/sh inside a pod network namespace, a stand-in proxy
 * (UID 1500) listens on 15001, and app clients (UID 1000) connect to listeners in another
 * namespace. The backends, both IP families and the re-run run twice: with the host's /bin/sh and
 * iptables, and with those of the init image's root filesystem (npm run images, built once per test
 * run), so the image the injector names is proven to intercept. Needs root (CI runs as root).
 */
import { expect } from 'chai';
import { renderInterceptionScript, type InterceptionOptions } from '../../src/injector/iptables/script.js';
import type { IptablesBackend } from '../../src/settings.js';
import {
  ADDR,
  APP_UID,
  LOOPBACK_PORT,
  NetnsRig,
  POD_IP,
  PROXY_UID,
  SIDE_INTERFACE,
  assertRoot,
  countRules,
  type ConnectResult,
  type ExecResult,
} from '../support/netns/rig.js';
import { assertImageTools, initImageRootfs } from '../support/images.js';
import { LEGACY_TOOLS, NFT_TOOLS, toolPath, type ToolPath } from '../support/netns/tool-path.js';

const { v4, v6 } = ADDR;

/** Where the script's /bin/sh and iptables come from (NetnsRig.runScript's options). */
type ScriptTools = { rootfs?: string; path?: string };
const TOOL_SOURCES: { name: string; tools: () => Promise<ScriptTools> }[] = [
  { name: "the host's tools", tools: async () => ({}) },
  {
    name: 'the init image meshgate-init (its own shell and iptables)',
    tools: async () => {
      await assertImageTools();
      const { rootfs, path } = await initImageRootfs();
      return { rootfs, path };
    },
  },
];
// 8080 plus 16 more: more than multiport's 15 per rule, so the chunking meets the real kernel.
const EXCLUDED_PORTS = [8080, ...Array.from({ length: 16 }, (_, i) => 9000 + i)];

function options(overrides: Partial<InterceptionOptions> = {}): InterceptionOptions {
  return {
    chainPrefix: 'OSM_',
    proxyUid: PROXY_UID,
    outboundPort: 15001,
    clusterCIDRs: [v4.clusterCIDR, v6.clusterCIDR],
    excludeCIDRs: [v4.excludedCIDR, v6.excludedCIDR],
    includeCIDRs: [],
    excludePorts: EXCLUDED_PORTS,
    excludeInterfaces: [SIDE_INTERFACE],
    backend: 'auto',
    ...overrides,
  };
}

const proxied = (host: string, port: number) =>
  ({ ok: true, reply: `proxy original_dst=${host.includes(':') ? `[${host}]` : host}:${port}` }) satisfies ConnectResult;
const direct = (host: string, port: number) => ({ ok: true, reply: `ext host=${host} port=${port}` }) satisfies ConnectResult;
const loopback = (host: string) => ({ ok: true, reply: `pod-loopback host=${host} port=${LOOPBACK_PORT}` }) satisfies ConnectResult;
const refused = { ok: false, error: 'ECONNREFUSED' } satisfies ConnectResult;

function expectApplied(r: ExecResult): void {
  expect(r.code, `script failed:\n${r.stdout}\n${r.stderr}`).to.equal(0);
}

/** The nat table of one backend and family, as iptables-save prints it. */
async function natDump(rig: NetnsRig, backend: 'nft' | 'legacy', family: 'ipv4' | 'ipv6'): Promise<string> {
  const cmd = `${family === 'ipv4' ? 'iptables' : 'ip6tables'}-${backend}-save`;
  const r = await rig.exec([cmd, '-t', 'nat']);
  expect(r.code, `${cmd}: ${r.stderr}`).to.equal(0);
  return r.stdout;
}

describe('interception script through the kernel (network namespaces)', function () {
  this.timeout(60_000);
  before(assertRoot);

  // The same assertions with the host's shell and iptables, and with those of the init image the
  // injector names (images/meshgate-init.Containerfile: its root filesystem, entered by chroot).
  for (const source of TOOL_SOURCES) {
    describe(`with ${source.name}`, () => {
      let tools: ScriptTools = {};
      before(async function () {
        this.timeout(20 * 60_000);
        tools = await source.tools();
      });

    const matrix: { backend: IptablesBackend; expected: 'nft' | 'legacy'; prefix: string }[] = [
      { backend: 'nft', expected: 'nft', prefix: 'OSM_' },
      { backend: 'legacy', expected: 'legacy', prefix: 'OSM_' },
      { backend: 'auto', expected: 'nft', prefix: 'FSM_' },
    ];
    for (const { backend, expected, prefix } of matrix) {
      describe(`backend ${backend} (${prefix} chains)`, () => {
        let rig: NetnsRig | undefined;
        let applied: ExecResult;
        before(async () => {
          rig = await NetnsRig.create();
          applied = await rig.runScript(renderInterceptionScript(options({ backend, chainPrefix: prefix })), tools);
          await rig.startProxy();
        });
        after(async () => rig?.destroy());

        it(`applies the rules with ${expected} and says so`, async () => {
          expectApplied(applied);
          expect(applied.stdout).to.include(`backend ${expected} (requested ${backend})`);
          const other = expected === 'nft' ? 'legacy' : 'nft';
          for (const family of ['ipv4', 'ipv6'] as const) {
            expect(await natDump(rig!, expected, family)).to.include(`-A OUTPUT -p tcp -j ${prefix}PROXY_OUTBOUND`);
            expect(await natDump(rig!, other, family)).not.to.include(`${prefix}PROXY_OUTBOUND`);
          }
        });

        it('sends an app connection to the proxy with its original destination intact (IPv4 and IPv6)', async () => {
          expect(await rig!.connect(v4.external, 80)).to.deep.equal(proxied(v4.external, 80));
          expect(await rig!.connect(v4.external, 443)).to.deep.equal(proxied(v4.external, 443));
          expect(await rig!.connect(v6.external, 80)).to.deep.equal(proxied(v6.external, 80));
          // root in an app container is intercepted too: only the proxy UID is exempt
          expect(await rig!.connect(v4.external, 443, 0)).to.deep.equal(proxied(v4.external, 443));
        });

        it('lets the proxy UID 1500 reach the external host directly', async () => {
          expect(await rig!.connect(v4.external, 80, PROXY_UID)).to.deep.equal(direct(v4.external, 80));
          expect(await rig!.connect(v6.external, 80, PROXY_UID)).to.deep.equal(direct(v6.external, 80));
        });

        it('lets in-cluster CIDRs, excluded CIDRs, excluded ports and excluded interfaces go direct', async () => {
          for (const f of [v4, v6]) {
            expect(await rig!.connect(f.cluster, 80)).to.deep.equal(direct(f.cluster, 80));
            expect(await rig!.connect(f.excluded, 443)).to.deep.equal(direct(f.excluded, 443));
            expect(await rig!.connect(f.external, 8080)).to.deep.equal(direct(f.external, 8080));
            expect(await rig!.connect(f.sideHost, 80)).to.deep.equal(direct(f.sideHost, 80));
          }
        });

        it('leaves loopback untouched, including the pod talking to its own IP', async () => {
          expect(await rig!.connect('127.0.0.1', LOOPBACK_PORT)).to.deep.equal(loopback('127.0.0.1'));
          expect(await rig!.connect('::1', LOOPBACK_PORT)).to.deep.equal(loopback('::1'));
          expect(await rig!.connect(POD_IP.v4, LOOPBACK_PORT)).to.deep.equal(loopback(POD_IP.v4));
          expect(await rig!.connect(POD_IP.v6, LOOPBACK_PORT)).to.deep.equal(loopback(POD_IP.v6));
        });
      });
    }

    describe('run twice in the same network namespace', () => {
      for (const backend of ['nft', 'legacy'] as const) {
        it(`leaves exactly one copy of the rules (${backend})`, async () => {
          const rig = await NetnsRig.create();
          try {
            const script = renderInterceptionScript(options({ backend }));
            const once: Record<string, string> = {};
            expectApplied(await rig.runScript(script, tools));
            for (const family of ['ipv4', 'ipv6'] as const) once[family] = await natDump(rig, backend, family);
            expectApplied(await rig.runScript(script, tools));
            for (const family of ['ipv4', 'ipv6'] as const) {
              const twice = await natDump(rig, backend, family);
              expect(countRules(twice, 'OUTPUT')).to.equal(1);
              expect(countRules(twice, 'OSM_PROXY_OUT_REDIRECT')).to.equal(1);
              expect(countRules(twice, 'OSM_PROXY_OUTBOUND')).to.equal(countRules(once[family]!, 'OSM_PROXY_OUTBOUND'));
              expect(countRules(twice)).to.equal(countRules(once[family]!));
              expect(countRules(twice, 'OSM_PROXY_OUTBOUND')).to.be.greaterThan(5);
            }
            await rig.startProxy();
            expect(await rig.connect(v4.external, 80)).to.deep.equal(proxied(v4.external, 80));
            expect(await rig.connect(v4.cluster, 80)).to.deep.equal(direct(v4.cluster, 80));
          } finally {
            await rig.destroy();
          }
        });
      }

      it('keeps a re-run in auto mode on the backend that already holds the rules', async () => {
        const rig = await NetnsRig.create();
        try {
          expectApplied(await rig.runScript(renderInterceptionScript(options({ backend: 'legacy' })), tools));
          const again = await rig.runScript(renderInterceptionScript(options({ backend: 'auto' })), tools);
          expectApplied(again);
          expect(again.stdout).to.include('backend legacy (requested auto)');
          expect(countRules(await natDump(rig, 'legacy', 'ipv4'), 'OUTPUT')).to.equal(1);
          expect(await natDump(rig, 'nft', 'ipv4')).not.to.include('OSM_PROXY_OUTBOUND');
        } finally {
          await rig.destroy();
        }
      });
    });
    });
  }

  describe('with an inclusion list', () => {
    let rig: NetnsRig | undefined;
    let applied: ExecResult;
    before(async () => {
      rig = await NetnsRig.create();
      applied = await rig.runScript(renderInterceptionScript(options({ includeCIDRs: [v4.includedCIDR, v6.includedCIDR] })));
      await rig.startProxy();
    });
    after(async () => rig?.destroy());

    it('redirects only the included ranges', async () => {
      expectApplied(applied);
      for (const f of [v4, v6]) {
        expect(await rig!.connect(f.included, 80)).to.deep.equal(proxied(f.included, 80));
        expect(await rig!.connect(f.external, 80)).to.deep.equal(direct(f.external, 80));
        expect(await rig!.connect(f.cluster, 80)).to.deep.equal(direct(f.cluster, 80));
        // an excluded port wins over the inclusion list
        expect(await rig!.connect(f.included, 8080)).to.deep.equal(direct(f.included, 8080));
      }
    });
  });

  describe('when nothing listens on 15001 (egress closed: no outbound listener)', () => {
    let rig: NetnsRig | undefined;
    let applied: ExecResult;
    before(async () => {
      rig = await NetnsRig.create();
      applied = await rig.runScript(renderInterceptionScript(options()));
    });
    after(async () => rig?.destroy());

    it('refuses an app connection to the external host, so curl exits 7', async () => {
      expectApplied(applied);
      expect(await rig!.connect(v4.external, 80)).to.deep.equal(refused);
      expect(await rig!.connect(v6.external, 443)).to.deep.equal(refused);
      const curl = await rig!.exec(['curl', '-sS', '--max-time', '3', `http://${v4.external}/`], APP_UID);
      expect(curl.code, curl.stderr).to.equal(7);
    });

    it('still connects to in-cluster destinations', async () => {
      expect(await rig!.connect(v4.cluster, 80)).to.deep.equal(direct(v4.cluster, 80));
      expect(await rig!.connect(v6.cluster, 80)).to.deep.equal(direct(v6.cluster, 80));
    });
  });

  describe('backend selection and failures', () => {
    const rigs: NetnsRig[] = [];
    const paths: ToolPath[] = [];
    after(async () => {
      for (const rig of rigs) await rig.destroy();
      for (const p of paths) p.remove();
    });
    const newRig = async (o?: { ipv6?: boolean }) => {
      const rig = await NetnsRig.create(o);
      rigs.push(rig);
      return rig;
    };
    const newPath = (o: { real?: string[]; broken?: string[] }) => {
      const p = toolPath(o);
      paths.push(p);
      return p.path;
    };

    it('auto falls back to legacy when nft does not work, and intercepts', async () => {
      const rig = await newRig();
      const path = newPath({ real: LEGACY_TOOLS, broken: NFT_TOOLS });
      const r = await rig.runScript(renderInterceptionScript(options({ backend: 'auto' })), { path });
      expectApplied(r);
      expect(r.stdout).to.include('backend nft could not apply the IPv4 rules');
      expect(r.stdout).to.include('backend legacy (requested auto)');
      await rig.startProxy();
      expect(await rig.connect(v4.external, 80)).to.deep.equal(proxied(v4.external, 80));
      expect(await rig.connect(v6.external, 80)).to.deep.equal(proxied(v6.external, 80));
    });

    it('fails (non-zero) when the requested backend does not work, applying nothing', async () => {
      const rig = await newRig();
      const path = newPath({ real: LEGACY_TOOLS, broken: NFT_TOOLS });
      const r = await rig.runScript(renderInterceptionScript(options({ backend: 'nft' })), { path });
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.include('no iptables backend could apply the rules');
      expect(await natDump(rig, 'legacy', 'ipv4')).not.to.include('OSM_PROXY_OUTBOUND');
    });

    it('fails loudly when the pod has IPv6 but ip6tables is missing', async () => {
      const rig = await newRig();
      const path = newPath({ real: ['iptables-legacy', 'iptables-legacy-restore'] });
      const r = await rig.runScript(renderInterceptionScript(options({ backend: 'legacy' })), { path });
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.include('the pod has IPv6 but ip6tables (legacy) could not apply the rules');
    });

    it('needs no ip6tables in a pod without IPv6', async () => {
      const rig = await newRig({ ipv6: false });
      const path = newPath({ real: ['iptables-legacy', 'iptables-legacy-restore'] });
      const r = await rig.runScript(renderInterceptionScript(options({ backend: 'auto' })), { path });
      expectApplied(r);
      expect(r.stdout).to.include('no IPv6 in this pod network namespace');
      await rig.startProxy();
      expect(await rig.connect(v4.external, 80)).to.deep.equal(proxied(v4.external, 80));
      expect(await rig.connect(v4.cluster, 80)).to.deep.equal(direct(v4.cluster, 80));
    });
  });
});
