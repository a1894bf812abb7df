import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { renderBootstrap, type BootstrapOptions } from '../../src/injector/bootstrap.js';
import { mutatePod } from '../../src/injector/index.js';
import { injectPod } from '../../src/injector/inject-pod.js';
import type { Pod } from '../../src/injector/pod.js';
import { XDS_PORT } from '../../src/profile.js';
import { DEFAULT_SETTINGS, setXdsCa } from '../../src/settings.js';
import { BOOTSTRAP_TYPE as BOOTSTRAP, checkEnvoyMessage } from '../support/envoy-proto.js';
import { curlMesh, curlPod, podAdmission, profileOf, SETTINGS, XDS_CA_PEM } from './fixtures.js';

type Json = Record<string, any>;

const TOKEN = '/var/run/secrets/meshgate.io/token';

function options(o: Partial<BootstrapOptions> = {}): BootstrapOptions {
  return { ipv6: false, nodeName: 'curl.curl', xds: { targetUri: 'meshgate.osm-system.svc:15128', caPem: XDS_CA_PEM, tokenPath: TOKEN }, ...o };
}

function listenerPorts(b: Json): number[] {
  return b.static_resources.listeners.map((l: Json) => l.address.socket_address.port_value);
}

/** The sidecar the webhook adds to the curl pod, and its bootstrap. */
function injectedEnvoy(state = curlMesh(), settings = SETTINGS, pod: unknown = curlPod()): { envoy: Json; bootstrap: Json } {
  const out = mutatePod(podAdmission(pod), state, settings);
  if (out.action !== 'patch') throw new Error(out.action);
  const envoy = out.patch.find((o) => o.path === '/spec/containers/1')!.value as Json;
  return { envoy, bootstrap: JSON.parse(envoy.args[1]) };
}

describe('injector: Envoy bootstrap, checked against Envoy\'s v3 protos', () => {
  it('ADS over google_grpc exactly as SPEC §10 says: TLS with meshgate\'s CA, the token by the file-based metadata plugin', () => {
    const b = renderBootstrap(options()) as Json;
    expect(checkEnvoyMessage(BOOTSTRAP, b)).to.deep.equal([]);
    expect(b.node).to.deep.equal({ id: 'curl.curl', cluster: 'curl.curl' });
    expect(b.dynamic_resources).to.deep.equal({
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [
          {
            google_grpc: {
              target_uri: 'meshgate.osm-system.svc:15128',
              stat_prefix: 'ads',
              credentials_factory_name: 'envoy.grpc_credentials.file_based_metadata',
              channel_credentials: { ssl_credentials: { root_certs: { inline_string: XDS_CA_PEM } } },
              call_credentials: [
                {
                  from_plugin: {
                    name: 'envoy.grpc_credentials.file_based_metadata',
                    typed_config: {
                      '@type': 'type.googleapis.com/envoy.config.grpc_credential.v3.FileBasedMetadataConfig',
                      secret_data: { filename: TOKEN },
                      header_prefix: 'Bearer ',
                    },
                  },
                },
              ],
            },
          },
        ],
      },
      lds_config: { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: '10s' },
      cds_config: { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: '10s' },
    });
  });

  it('the plugin config\'s field names are those of file_based_metadata.proto (header_prefix, secret_data)', () => {
    const require = createRequire(import.meta.url);
    const proto = readFileSync(require.resolve('@grpc/grpc-js-xds/deps/envoy-api/envoy/config/grpc_credential/v3/file_based_metadata.proto'), 'utf8');
    expect(proto).to.match(/package envoy\.config\.grpc_credential\.v3;/);
    expect(proto).to.match(/message FileBasedMetadataConfig \{/);
    expect(proto).to.match(/core\.v3\.DataSource secret_data = 1/);
    expect(proto).to.match(/string header_prefix = 3;/);
    // And the strict checker refuses a misspelt one inside the Any.
    const b = renderBootstrap(options()) as Json;
    const plugin = b.dynamic_resources.ads_config.grpc_services[0].google_grpc.call_credentials[0].from_plugin.typed_config;
    plugin.header_prefx = plugin.header_prefix;
    delete plugin.header_prefix;
    expect(checkEnvoyMessage(BOOTSTRAP, b).join()).to.include('unknown field "header_prefx" in envoy.config.grpc_credential.v3.FileBasedMetadataConfig');
  });

  it('static resources: only admin\'s cluster and the health listener (no outbound listener, no passthrough: those come over ADS)', () => {
    const b = renderBootstrap(options()) as Json;
    expect(b.admin.address.socket_address).to.deep.equal({ address: '127.0.0.1', port_value: 15000 });
    expect(listenerPorts(b)).to.deep.equal([15010]);
    expect(b.static_resources.clusters.map((c: Json) => c.name)).to.deep.equal(['envoy-admin']);
  });

  it('without a CA: no root_certs (gRPC\'s default roots), still valid', () => {
    const b = renderBootstrap(options({ xds: { targetUri: 'meshgate.osm-system.svc:15128', caPem: '', tokenPath: TOKEN } })) as Json;
    expect(checkEnvoyMessage(BOOTSTRAP, b)).to.deep.equal([]);
    expect(b.dynamic_resources.ads_config.grpc_services[0].google_grpc.channel_credentials).to.deep.equal({ ssl_credentials: {} });
  });

  it('a health listener on 0.0.0.0:15010 routing only /ready and /stats/prometheus to the admin', () => {
    const b = renderBootstrap(options()) as Json;
    const health = b.static_resources.listeners.find((l: Json) => l.address.socket_address.port_value === 15010);
    expect(health.address.socket_address.address).to.equal('0.0.0.0');
    const hcm = health.filter_chains[0].filters[0].typed_config;
    const routes = hcm.route_config.virtual_hosts[0].routes;
    expect(routes.map((r: Json) => r.match)).to.deep.equal([{ path: '/ready' }, { path: '/stats/prometheus' }]);
    const admin = b.static_resources.clusters.find((c: Json) => c.name === routes[0].route.cluster);
    expect(admin.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).to.deep.equal({ address: '127.0.0.1', port_value: 15000 });
  });

  it('IPv6 clusters: the health listener also listens on [::] (beside 0.0.0.0), valid against the protos', () => {
    const b = renderBootstrap(options({ ipv6: true })) as Json;
    expect(checkEnvoyMessage(BOOTSTRAP, b)).to.deep.equal([]);
    const l = b.static_resources.listeners[0];
    expect(l.address.socket_address.address).to.equal('0.0.0.0');
    expect(l.additional_addresses).to.deep.equal([{ address: { socket_address: { address: '::', port_value: 15010 } } }]);
    expect(renderBootstrap(options()).static_resources).to.not.have.nested.property('listeners[0].additional_addresses');
  });

  it('the injected proxy listens on IPv6 exactly when an IPv6 cluster CIDR is configured', () => {
    for (const [clusterCIDRs, ipv6] of [[['10.244.0.0/16'], false], [['10.244.0.0/16', 'fd00:10:244::/56'], true]] as const) {
      const { bootstrap } = injectedEnvoy(curlMesh(), { ...SETTINGS, clusterCIDRs: [...clusterCIDRs] });
      expect(Boolean(bootstrap.static_resources.listeners[0].additional_addresses), clusterCIDRs.join()).to.equal(ipv6);
    }
  });

  describe('what the injector puts in', () => {
    it('node id and cluster: the pod\'s ServiceAccount and namespace (`default` when it names none)', () => {
      expect(injectedEnvoy().bootstrap.node).to.deep.equal({ id: 'curl.curl', cluster: 'curl.curl' });
      const anonymous = curlPod() as Json;
      delete anonymous.spec.serviceAccountName;
      expect(injectedEnvoy(curlMesh(), SETTINGS, anonymous).bootstrap.node).to.deep.equal({ id: 'default.curl', cluster: 'default.curl' });
    });

    it('the ADS target is the meshgate Service in the control namespace of the profile (or the settings\' namespace)', () => {
      expect(DEFAULT_SETTINGS.xds).to.deep.equal({ serviceName: 'meshgate', port: XDS_PORT, caPem: '' });
      const target = (b: Json) => b.dynamic_resources.ads_config.grpc_services[0].google_grpc.target_uri;
      expect(target(injectedEnvoy(curlMesh('osm')).bootstrap)).to.equal('meshgate.osm-system.svc:15128');
      expect(target(injectedEnvoy(curlMesh('fsm')).bootstrap)).to.equal('meshgate.fsm-system.svc:15128');
      const other = { ...SETTINGS, xds: { ...SETTINGS.xds, serviceName: 'egress-gate', namespace: 'mesh' } };
      expect(target(injectedEnvoy(curlMesh('osm'), other).bootstrap)).to.equal('egress-gate.mesh.svc:15128');
    });

    it('the same bootstrap whatever the MeshConfig\'s traffic.enableEgress (the passthrough now comes over ADS)', () => {
      const open = injectedEnvoy(curlMesh('osm', { traffic: { enableEgress: true } })).bootstrap;
      const closed = injectedEnvoy(curlMesh('osm', { traffic: { enableEgress: false } })).bootstrap;
      expect(open).to.deep.equal(closed);
      expect(checkEnvoyMessage(BOOTSTRAP, open)).to.deep.equal([]);
    });

    it('Envoy drains changed listeners for 5 s (--drain-time-s 5)', () => {
      const { args } = injectedEnvoy().envoy;
      expect(args.slice(2)).to.deep.equal(['--log-level', 'error', '--disable-hot-restart', '--drain-time-s', '5']);
    });

    it('a new CA (rotation: serve calls setXdsCa) reaches the next pod; the render cache is keyed by it', () => {
      const settings = structuredClone(SETTINGS);
      const before = injectedEnvoy(curlMesh(), settings).bootstrap;
      const rotated = `${XDS_CA_PEM}${XDS_CA_PEM.replace('MIIB', 'MIIC')}`;
      setXdsCa(settings, rotated);
      const after = injectedEnvoy(curlMesh(), settings).bootstrap;
      const roots = (b: Json) => b.dynamic_resources.ads_config.grpc_services[0].google_grpc.channel_credentials.ssl_credentials.root_certs.inline_string;
      expect(roots(before)).to.equal(XDS_CA_PEM);
      expect(roots(after)).to.equal(rotated);
      setXdsCa(settings, XDS_CA_PEM);
      expect(roots(injectedEnvoy(curlMesh(), settings).bootstrap)).to.equal(XDS_CA_PEM);
      expect(SETTINGS.xds.caPem, 'the shared fixture is untouched').to.equal(XDS_CA_PEM);
    });

    it('the token file the plugin reads is where the proxy container mounts the token volume', () => {
      const r = injectPod(curlPod() as Pod, { profile: profileOf('osm'), meshConfig: undefined, settings: SETTINGS, namespace: 'curl' });
      if (r.kind !== 'injected') throw new Error(r.kind);
      const envoy = r.pod.spec.containers.find((c) => c.name === 'envoy')!;
      const filename = JSON.parse(envoy.args![1]!).dynamic_resources.ads_config.grpc_services[0].google_grpc.call_credentials[0].from_plugin.typed_config.secret_data.filename;
      const mount = (envoy.volumeMounts as Json[])[0]!;
      const volume = r.pod.spec.volumes!.find((v) => v.name === mount.name) as Json;
      expect(filename).to.equal(`${mount.mountPath}/${volume.projected.sources[0].serviceAccountToken.path}`);
    });
  });

  describe('the strict checker itself', () => {
    it('rejects an unknown field, naming its path', () => {
      const b = renderBootstrap(options()) as Json;
      b.static_resources.listeners[0].use_original_dest = true;
      const errors = checkEnvoyMessage(BOOTSTRAP, b);
      expect(errors).to.have.length(1);
      expect(errors[0]).to.include('static_resources.listeners[0].use_original_dest').and.include('unknown field');
    });

    it('rejects an unknown field inside a typed_config (Any resolved by its @type)', () => {
      const b = renderBootstrap(options()) as Json;
      b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.stat_prefixx = 'x';
      expect(checkEnvoyMessage(BOOTSTRAP, b).join()).to.include('unknown field "stat_prefixx" in envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
    });

    it('rejects a bad enum, a wrong type, a bad duration, an unknown @type and two members of a oneof', () => {
      const b = renderBootstrap(options()) as Json;
      b.dynamic_resources.ads_config.api_type = 'GRPCC';
      b.admin.address.socket_address.port_value = '15000x';
      b.dynamic_resources.lds_config.initial_fetch_timeout = '10 seconds';
      b.dynamic_resources.ads_config.grpc_services[0].google_grpc.call_credentials[0].from_plugin.typed_config['@type'] = 'type.googleapis.com/envoy.Nope';
      b.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.pipe = { path: '/x' };
      const errors = checkEnvoyMessage(BOOTSTRAP, b).join('\n');
      expect(errors).to.include('unknown envoy.config.core.v3.ApiConfigSource.ApiType value "GRPCC"');
      expect(errors).to.include('admin.address.socket_address.port_value: expected an integer');
      expect(errors).to.include('initial_fetch_timeout: expected a duration');
      expect(errors).to.include('unknown message envoy.Nope');
      expect(errors).to.include('oneof address already set by socket_address');
    });
  });
});
