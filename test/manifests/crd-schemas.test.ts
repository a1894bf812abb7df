import { expect } from 'chai';
import { Ajv } from 'ajv';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { allCrds } from '../../src/manifests/crds.js';
import { defaultMeshConfig } from '../../src/manifests/mesh-config.js';
import type { KubeObject } from '../../src/manifests/types.js';
import { resolveProfile } from '../../src/profile.js';

/**
 * The CRD schemas must take every seed object as written: no type error, and no field pruned
 * (kube-apiserver silently drops fields a structural schema does not declare, so a missing
 * property would lose part of a policy). The check runs the openAPIV3Schema through ajv with
 * `additionalProperties: false` added wherever Kubernetes would prune.
 */
const ajv = new Ajv({ strict: false, allErrors: true });

function pruningSchema(node: any): any {
  if (!node || typeof node !== 'object') return node;
  const out: any = { ...node };
  if (out.properties) {
    out.properties = Object.fromEntries(Object.entries(out.properties).map(([k, v]) => [k, pruningSchema(v)]));
    if (!out['x-kubernetes-preserve-unknown-fields'] && out.additionalProperties === undefined) out.additionalProperties = false;
  }
  if (out.items) out.items = pruningSchema(out.items);
  if (out.additionalProperties && typeof out.additionalProperties === 'object') out.additionalProperties = pruningSchema(out.additionalProperties);
  if (out.anyOf) out.anyOf = out.anyOf.map(pruningSchema);
  return out;
}

function validatorsFor(crds: KubeObject[]): Map<string, (o: unknown) => string[]> {
  const map = new Map<string, (o: unknown) => string[]>();
  for (const crd of crds as any[]) {
    for (const v of crd.spec.versions) {
      const validate = ajv.compile(pruningSchema(v.schema.openAPIV3Schema));
      map.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, (o) =>
        validate(o) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`),
      );
    }
  }
  return map;
}

const seedEgress = (group: string, name: string, spec: object) => ({ kind: 'Egress', apiVersion: `${group}/v1alpha1`, metadata: { name, namespace: 'curl' }, spec });
const sources = [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }];
/** The objects of seeds 002 (FSM) and 004 (OSM), as written there. */
function seedObjects(group: string): object[] {
  return [
    seedEgress(group, 'httpbin-80', { sources, hosts: ['httpbin.org'], ports: [{ number: 80, protocol: 'http' }] }),
    seedEgress(group, 'httpbin-443', { sources, hosts: ['httpbin.org'], ports: [{ number: 443, protocol: 'https' }] }),
    seedEgress(group, 'tcp-443', { sources, ports: [{ number: 443, protocol: 'tcp' }] }),
    seedEgress(group, 'httpbin-80', {
      sources,
      hosts: ['httpbin.org'],
      ports: [{ number: 80, protocol: 'http' }],
      matches: [{ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'egress-http-route' }],
    }),
    seedEgress(group, 'ips', { sources, ipAddresses: ['1.1.1.0/24', '2001:db8::/32'], ports: [{ number: 3306, protocol: 'tcp-server-first' }] }),
    { apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', metadata: { name: 'egress-http-route', namespace: 'curl' }, spec: { matches: [{ name: 'get', pathRegex: '/get' }] } },
    {
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: { name: 'egress-http-route', namespace: 'curl' },
      spec: { matches: [{ name: 'get', pathRegex: '/get' }, { name: 'status', pathRegex: '/status.*', methods: ['GET'], headers: [{ 'user-agent': '.*curl.*' }] }] },
    },
    OSM_DEMO_ROUTE_GROUP,
  ];
}

/** OSM v1.2.4's demo route group (demo/deploy-traffic-specs.sh): headers in SMI's list form. */
const OSM_DEMO_ROUTE_GROUP = {
  apiVersion: 'specs.smi-spec.io/v1alpha4',
  kind: 'HTTPRouteGroup',
  metadata: { name: 'bookstore-service-routes', namespace: 'bookstore' },
  spec: {
    matches: [
      { name: 'books-bought', pathRegex: '/books-bought', methods: ['GET'], headers: [{ 'user-agent': '.*-http-client/*.*' }, { 'client-app': 'bookbuyer' }] },
      { name: 'buy-a-book', pathRegex: '.*a-book.*new', methods: ['GET'] },
      { name: 'update-books-bought', pathRegex: '/update-books-bought', methods: ['POST'] },
    ],
  },
};

/** YAML objects under examples/ (written by the examples' owner), when present. */
function exampleObjects(): object[] {
  const root = fileURLToPath(new URL('../../examples/', import.meta.url));
  const out: object[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir)) {
      const p = path.join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(f)) for (const d of parseAllDocuments(readFileSync(p, 'utf8'))) if (d.toJS()) out.push(d.toJS());
    }
  };
  walk(path.join(root, 'policies'));
  walk(path.join(root, 'state'));
  return out;
}

describe('CRD schemas accept the seeds\' objects without pruning any field', () => {
  for (const profileName of ['osm', 'fsm'] as const) {
    const profile = resolveProfile(profileName);
    const validators = validatorsFor(allCrds(profile, true));
    const check = (o: any) => {
      const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
      const validate = validators.get(`${group}/${version}/${o.kind}`);
      if (!validate) return undefined;
      return validate(o);
    };

    it(`${profileName}: seed Egress (both groups) and HTTPRouteGroup objects`, () => {
      for (const group of ['policy.openservicemesh.io', 'policy.flomesh.io']) {
        for (const o of seedObjects(group)) expect(check(o), JSON.stringify(o)).to.deep.equal([]);
      }
    });

    it(`${profileName}: the default MeshConfig, and the seeds' kubectl patches of it`, () => {
      const mc = defaultMeshConfig(profile, { namespace: profile.controlNamespace, meshName: profile.meshName, enableEgress: false }) as any;
      expect(check(mc)).to.deep.equal([]);
      const patched = structuredClone(mc);
      patched.spec.traffic.enableEgress = true;
      patched.spec.featureFlags.enableEgressPolicy = true;
      expect(check(patched)).to.deep.equal([]);
    });

    it(`${profileName}: examples/ policies and state of this profile`, () => {
      const objects = exampleObjects().filter((o: any) => check(o) !== undefined);
      expect(objects.length, 'examples/policies and examples/state hold mesh objects').to.be.greaterThan(0);
      for (const o of objects) expect(check(o), JSON.stringify(o)).to.deep.equal([]);
    });

    it(`${profileName}: HTTPRouteGroup headers are a list of string maps, as OSM's CRD declares; a headers map is rejected`, () => {
      const withHeaders = (headers: unknown) => ({ ...OSM_DEMO_ROUTE_GROUP, spec: { matches: [{ name: 'm', headers }] } });
      expect(check(withHeaders([{ 'user-agent': '.*Android.*' }, { cookie: '^(.*?;)?(type=insider)(;.*)?$' }]))).to.deep.equal([]);
      expect(check(withHeaders([]))).to.deep.equal([]);
      // The form SMI's spec prose shows: OSM's API server rejects it, and so must meshgate's CRD.
      expect(check(withHeaders({ 'user-agent': '.*Android.*' }))!.join('\n')).to.match(/\/spec\/matches\/0\/headers must be array/);
      expect(check(withHeaders([{ 'x-id': 5 }]))!.join('\n')).to.match(/\/spec\/matches\/0\/headers\/0\/x-id must be string/);
      expect(check(withHeaders(['user-agent: .*']))!.join('\n')).to.match(/\/spec\/matches\/0\/headers\/0 must be object/);
      // One key per item is the webhook's rule (a structural schema cannot say it, nor can OSM's).
      expect(check(withHeaders([{ 'user-agent': 'a', cookie: 'b' }]))).to.deep.equal([]);
    });

    it(`${profileName}: the headers schema is OSM v1.2.4's (array of objects with string additionalProperties)`, () => {
      const crd = allCrds(profile, true).find((c: any) => c.spec.names.kind === 'HTTPRouteGroup') as any;
      const headers = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.matches.items.properties.headers;
      expect(headers).to.deep.include({ type: 'array' });
      expect(headers.items).to.deep.include({ type: 'object', additionalProperties: { type: 'string' } });
    });

    it(`${profileName}: a wrongly typed or undeclared field is caught (the check is real)`, () => {
      const bad = seedEgress(`policy.${profile.domain}`, 'bad', { sources, ports: [{ number: '80', protocol: 'http' }], hostz: ['x'] });
      const errors = check(bad)!;
      expect(errors.join('\n')).to.match(/\/spec\/ports\/0\/number must be integer/);
      expect(errors.join('\n')).to.match(/additionalProperty.*hostz/);
    });
  }

  it('fsm keeps MeshConfig fields beyond OSM v1.2\'s; osm prunes them like OSM', () => {
    const extra = (p: 'osm' | 'fsm') => {
      const profile = resolveProfile(p);
      const mc = defaultMeshConfig(profile, { namespace: 'x', meshName: p, enableEgress: false }) as any;
      mc.spec.repoServer = { ipaddr: '127.0.0.1' };
      mc.spec.sidecar.sidecarLogLevel = 'error';
      const validate = validatorsFor(allCrds(profile)).get(`${profile.meshConfig.group}/${profile.meshConfig.version}/MeshConfig`)!;
      return validate(mc);
    };
    expect(extra('fsm')).to.deep.equal([]);
    expect(extra('osm')).to.have.length(2);
  });
});
