/**
 * Compile figures (issue #10): how long the egress compiler takes for one ServiceAccount, in this
 * process, against stores built in this process.
 * - an account named by 10 policies, and by 1,000 (targets: ≤ 0.2 ms and ≤ 20 ms);
 * - the 10-policy account at 100,000 policies in state against the same account at 1,000
 *   (target ≥ 0.9×: only the policies naming the account are read, through the store's index).
 * Each figure is the median of 5 timed rounds after a warm-up; the ratios compare rounds of the
 * same process launch.
 */
import { performance } from 'node:perf_hooks';
import { compileProxyConfig } from '../src/egress/compile.js';
import { resolveProfile } from '../src/profile.js';
import { DEFAULT_SETTINGS } from '../src/settings.js';
import { MeshStore } from '../src/state/store.js';
import type { KubeObject } from '../src/state/types.js';

const ACCOUNT = { namespace: 'curl', name: 'curl' };

/** Policies for the account: a realistic mix of http (with route groups), https, tcp with prefixes. */
function accountPolicy(i: number): KubeObject {
  const kind = i % 4;
  const spec =
    kind === 0
      ? { hosts: [`api-${i}.example.com`], ports: [{ number: 80, protocol: 'http' }], matches: [{ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'routes' }] }
      : kind === 1
        ? { hosts: [`svc-${i}.example.org`, `*.zone-${i % 7}.example.net`], ports: [{ number: 443, protocol: 'https' }] }
        : kind === 2
          ? { ipAddresses: [`10.${i % 250}.${(i >> 8) % 250}.0/24`], ports: [{ number: 5432, protocol: 'tcp' }] }
          : { hosts: [`web-${i}.example.com`], ports: [{ number: 8080, protocol: 'http' }] };
  return {
    apiVersion: 'policy.openservicemesh.io/v1alpha1',
    kind: 'Egress',
    metadata: { name: `curl-${i}`, namespace: 'curl' },
    spec: { sources: [{ kind: 'ServiceAccount', ...ACCOUNT }], ...spec },
  };
}

function otherPolicy(i: number): KubeObject {
  return {
    apiVersion: 'policy.openservicemesh.io/v1alpha1',
    kind: 'Egress',
    metadata: { name: `egress-${i}`, namespace: `ns-${i % 1000}` },
    spec: {
      sources: [{ kind: 'ServiceAccount', name: `sa-${i % 50}`, namespace: `ns-${i % 1000}` }],
      hosts: [`host-${i}.example.com`],
      ports: [{ number: 80, protocol: 'http' }],
    },
  };
}

export function storeWith(accountPolicies: number, totalPolicies: number): MeshStore {
  const store = new MeshStore(resolveProfile('osm'));
  store.upsert({ apiVersion: 'config.openservicemesh.io/v1alpha2', kind: 'MeshConfig', metadata: { name: 'osm-mesh-config', namespace: 'osm-system' }, spec: { traffic: { enableEgress: false } } });
  store.upsert({ apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', metadata: { name: 'routes', namespace: 'curl' }, spec: { matches: [{ name: 'get', pathRegex: '/get' }, { name: 'status', pathRegex: '/status/.*', methods: ['GET', 'HEAD'] }] } });
  for (let i = 0; i < accountPolicies; i++) store.upsert(accountPolicy(i));
  for (let i = accountPolicies; i < totalPolicies; i++) store.upsert(otherPolicy(i));
  return store;
}

/** Median milliseconds per compile over 5 rounds of at least `roundMs` each. */
function timeCompile(store: MeshStore, roundMs = 300): number {
  const once = () => compileProxyConfig(ACCOUNT, store, DEFAULT_SETTINGS);
  for (let i = 0; i < 20; i++) once();
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < roundMs) {
      once();
      n++;
      now = performance.now();
    }
    rounds.push((now - start) / n);
  }
  return rounds.sort((a, b) => a - b)[2]!;
}

export interface CompileFigures {
  ms10: number;
  ms1000: number;
  ms10At1000: number;
  ms10At100000: number;
  /** Compiles per second at 100,000 policies in state over compiles per second at 1,000. */
  scaleRatio: number;
}

export function compileFigures(): CompileFigures {
  const ms10At1000 = timeCompile(storeWith(10, 1000));
  const ms1000 = timeCompile(storeWith(1000, 1000), 1000);
  const big = storeWith(10, 100_000);
  const ms10At100000 = timeCompile(big);
  const ms10 = ms10At1000;
  return { ms10, ms1000, ms10At1000, ms10At100000, scaleRatio: ms10At1000 / ms10At100000 };
}

export function compileLines(f: CompileFigures): string[] {
  return [
    `compile one ServiceAccount named by 10 policies:    ${(f.ms10 * 1000).toFixed(1)} µs (target ≤ 200 µs)`,
    `compile one ServiceAccount named by 1,000 policies: ${f.ms1000.toFixed(2)} ms (target ≤ 20 ms)`,
    `the 10-policy account at 100,000 policies in state: ${(f.ms10At100000 * 1000).toFixed(1)} µs, ${f.scaleRatio.toFixed(2)}× the rate at 1,000 (target ≥ 0.9×)`,
  ];
}
