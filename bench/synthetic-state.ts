import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveProfile, type Profile } from '../src/profile.js';

export interface SyntheticSize {
  namespaces: number;
  policies: number;
  routeGroups: number;
}

/**
 * Writes a synthetic cluster state for `meshgate serve --state`: enrolled namespaces, the MeshConfig,
 * HTTPRouteGroups and Egress policies spread across namespaces and ServiceAccounts, with some
 * tcp-server-first ports so the server-first index is populated. Written as JSON Lists of 1,000 objects per file.
 */
export async function writeSyntheticState(dir: string, size: SyntheticSize, profile: Profile = resolveProfile('osm')): Promise<void> {
  await mkdir(dir, { recursive: true });
  const d = profile.domain;
  const docs: string[] = [];
  docs.push(
    JSON.stringify({
      apiVersion: `${profile.meshConfig.group}/${profile.meshConfig.version}`,
      kind: 'MeshConfig',
      metadata: { name: profile.meshConfig.name, namespace: profile.controlNamespace },
      spec: { traffic: { enableEgress: false }, featureFlags: { enableEgressPolicy: true } },
    }),
  );
  docs.push(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: profile.controlNamespace } }));
  for (let i = 0; i < size.namespaces; i++) {
    docs.push(
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: `ns-${i}`, labels: { [`${d}/monitored-by`]: profile.meshName }, annotations: { [`${d}/sidecar-injection`]: 'enabled' } },
      }),
    );
  }
  // An unenrolled namespace for the "skipped pod" scenario.
  docs.push(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'not-in-mesh' } }));
  for (let i = 0; i < size.routeGroups; i++) {
    docs.push(
      JSON.stringify({
        apiVersion: 'specs.smi-spec.io/v1alpha4',
        kind: 'HTTPRouteGroup',
        metadata: { name: `rg-${i}`, namespace: `ns-${i % size.namespaces}` },
        spec: { matches: [{ name: 'get', pathRegex: '/get' }, { name: 'status', pathRegex: '/status.*', methods: ['GET'] }] },
      }),
    );
  }
  for (let i = 0; i < size.policies; i++) {
    const ns = `ns-${i % size.namespaces}`;
    const sa = `sa-${i % 50}`;
    const serverFirst = i % 10 === 0;
    docs.push(
      JSON.stringify({
        apiVersion: 'policy.openservicemesh.io/v1alpha1',
        kind: 'Egress',
        metadata: { name: `egress-${i}`, namespace: ns },
        spec: {
          sources: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
          hosts: [`host-${i}.example.com`],
          ports: serverFirst ? [{ number: 3306 + (i % 7), protocol: 'tcp-server-first' }] : [{ number: 443, protocol: 'https' }],
        },
      }),
    );
  }
  // Lists of 1,000 objects, as `kubectl get ... -o json` writes them, one file each (a GitOps tree).
  for (let i = 0; i * 1000 < docs.length; i++) {
    const items = docs.slice(i * 1000, (i + 1) * 1000);
    await writeFile(join(dir, `state-${String(i).padStart(4, '0')}.json`), `{"apiVersion":"v1","kind":"List","items":[\n${items.join(',\n')}\n]}\n`);
  }
}
