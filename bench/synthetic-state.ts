import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { resolveProfile, type Profile } from '../src/profile.js';

export interface SyntheticSize {
  namespaces: number;
  policies: number;
  routeGroups: number;
}

/**
 * A synthetic cluster state for `meshgate serve --state`: enrolled namespaces, the MeshConfig,
 * HTTPRouteGroups and Egress policies spread across namespaces and ServiceAccounts, with some
 * tcp-server-first ports so the server-first index is populated.
 */
export function syntheticObjects(size: SyntheticSize, profile: Profile = resolveProfile('osm')): object[] {
  const d = profile.domain;
  const docs: object[] = [];
  docs.push(
    {
      apiVersion: `${profile.meshConfig.group}/${profile.meshConfig.version}`,
      kind: 'MeshConfig',
      metadata: { name: profile.meshConfig.name, namespace: profile.controlNamespace },
      spec: { traffic: { enableEgress: false }, featureFlags: { enableEgressPolicy: true } },
    },
  );
  docs.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: profile.controlNamespace } });
  for (let i = 0; i < size.namespaces; i++) {
    docs.push({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: `ns-${i}`, labels: { [`${d}/monitored-by`]: profile.meshName }, annotations: { [`${d}/sidecar-injection`]: 'enabled' } },
    });
  }
  // An unenrolled namespace for the "skipped pod" scenario.
  docs.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'not-in-mesh' } });
  for (let i = 0; i < size.routeGroups; i++) {
    docs.push({
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: { name: `rg-${i}`, namespace: `ns-${i % size.namespaces}` },
      spec: { matches: [{ name: 'get', pathRegex: '/get' }, { name: 'status', pathRegex: '/status.*', methods: ['GET'] }] },
    });
  }
  for (let i = 0; i < size.policies; i++) {
    const ns = `ns-${i % size.namespaces}`;
    const sa = `sa-${i % 50}`;
    const serverFirst = i % 10 === 0;
    docs.push({
      apiVersion: 'policy.openservicemesh.io/v1alpha1',
      kind: 'Egress',
      metadata: { name: `egress-${i}`, namespace: ns },
      spec: {
        sources: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
        hosts: [`host-${i}.example.com`],
        ports: serverFirst ? [{ number: 3306 + (i % 7), protocol: 'tcp-server-first' }] : [{ number: 443, protocol: 'https' }],
      },
    });
  }
  return docs;
}

/** The synthetic state as JSON Lists of 1,000 objects, as `kubectl get ... -o json` writes them, one file each (a GitOps tree). */
export async function writeSyntheticState(dir: string, size: SyntheticSize, profile: Profile = resolveProfile('osm')): Promise<void> {
  await mkdir(dir, { recursive: true });
  const docs = syntheticObjects(size, profile).map((o) => JSON.stringify(o));
  for (let i = 0; i * 1000 < docs.length; i++) {
    const items = docs.slice(i * 1000, (i + 1) * 1000);
    await writeFile(join(dir, `state-${String(i).padStart(4, '0')}.json`), `{"apiVersion":"v1","kind":"List","items":[\n${items.join(',\n')}\n]}\n`);
  }
}

/**
 * The same synthetic state as one multi-document YAML file (`state.yaml`, block style, `---`
 * between objects), as a hand-kept or `helm template` state is written. Returns its size in bytes.
 */
export async function writeSyntheticStateYaml(dir: string, size: SyntheticSize, profile: Profile = resolveProfile('osm')): Promise<number> {
  await mkdir(dir, { recursive: true });
  const text = syntheticObjects(size, profile)
    .map((o) => stringify(o))
    .join('---\n');
  await writeFile(join(dir, 'state.yaml'), text);
  return Buffer.byteLength(text);
}
