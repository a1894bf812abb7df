import { expect } from 'chai';
import { renderBootstrap } from '../../src/injector/bootstrap.js';
import { mutatePod } from '../../src/injector/index.js';
import { BOOTSTRAP_TYPE as BOOTSTRAP, checkEnvoyMessage } from '../support/envoy-proto.js';
import { curlMesh, curlPod, podAdmission, SETTINGS } from './fixtures.js';

type Json = Record<string, any>;

function listenerPorts(b: Json): number[] {
  return b.static_resources.listeners.map((l: Json) => l.address.socket_address.port_value);
}

describe('injector: Envoy bootstrap, checked against Envoy\'s v3 protos', () => {
  it('egress enabled: valid, with seed 001\'s outbound listener and passthrough cluster', () => {
    const b = renderBootstrap({ enableEgress: true, ipv6: false, nodeName: 'curl.curl' }) as Json;
    expect(checkEnvoyMessage(BOOTSTRAP, b)).to.deep.equal([]);
    expect(b.admin.address.socket_address).to.deep.equal({ address: '127.0.0.1', port_value: 15000 });
    const outbound = b.static_resources.listeners.find((l: Json) => l.name === 'outbound-listener');
    expect(outbound.address.socket_address).to.deep.equal({ address: '0.0.0.0', port_value: 15001 });
    expect(outbound.traffic_direction).to.equal('OUTBOUND');
    expect(outbound.listener_filters).to.deep.equal([
      {
        name: 'envoy.filters.listener.original_dst',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst' },
      },
    ]);
    expect(outbound.default_filter_chain.name).to.equal('outbound-egress-filter-chain');
    expect(outbound.default_filter_chain.filters[0].typed_config).to.deep.include({ stat_prefix: 'passthrough-outbound', cluster: 'passthrough-outbound' });
    const passthrough = b.static_resources.clusters.find((c: Json) => c.name === 'passthrough-outbound');
    expect(passthrough).to.deep.include({ type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' });
  });

  it('egress disabled: valid, and no listener on 15001 at all (blocked connections are refused)', () => {
    const b = renderBootstrap({ enableEgress: false, ipv6: false, nodeName: 'curl.curl' }) as Json;
    expect(checkEnvoyMessage(BOOTSTRAP, b)).to.deep.equal([]);
    expect(listenerPorts(b)).to.not.include(15001);
    expect(b.static_resources.clusters.map((c: Json) => c.name)).to.not.include('passthrough-outbound');
  });

  it('both: a health listener on 0.0.0.0:15010 routing only /ready and /stats/prometheus to the admin', () => {
    for (const enableEgress of [true, false]) {
      const b = renderBootstrap({ enableEgress, ipv6: false, nodeName: 'x.y' }) as Json;
      const health = b.static_resources.listeners.find((l: Json) => l.address.socket_address.port_value === 15010);
      expect(health.address.socket_address.address).to.equal('0.0.0.0');
      const hcm = health.filter_chains[0].filters[0].typed_config;
      const routes = hcm.route_config.virtual_hosts[0].routes;
      expect(routes.map((r: Json) => r.match)).to.deep.equal([{ path: '/ready' }, { path: '/stats/prometheus' }]);
      const admin = b.static_resources.clusters.find((c: Json) => c.name === routes[0].route.cluster);
      expect(admin.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).to.deep.equal({ address: '127.0.0.1', port_value: 15000 });
    }
  });

  it('IPv6 clusters: both listeners also listen on [::] (beside 0.0.0.0), valid against the protos', () => {
    const b = renderBootstrap({ enableEgress: true, ipv6: true, nodeName: 'curl.curl' }) as Json;
    expect(checkEnvoyMessage(BOOTSTRAP, b)).to.deep.equal([]);
    for (const port of [15001, 15010]) {
      const l = b.static_resources.listeners.find((x: Json) => x.address.socket_address.port_value === port);
      expect(l.address.socket_address.address).to.equal('0.0.0.0');
      expect(l.additional_addresses).to.deep.equal([{ address: { socket_address: { address: '::', port_value: port } } }]);
    }
    const v4 = renderBootstrap({ enableEgress: true, ipv6: false, nodeName: 'curl.curl' }) as Json;
    for (const l of v4.static_resources.listeners) expect(l).to.not.have.property('additional_addresses');
  });

  it('the injected proxy listens on IPv6 exactly when an IPv6 cluster CIDR is configured', () => {
    for (const [clusterCIDRs, ipv6] of [[['10.244.0.0/16'], false], [['10.244.0.0/16', 'fd00:10:244::/56'], true]] as const) {
      const out = mutatePod(podAdmission(curlPod()), curlMesh('osm', { traffic: { enableEgress: true } }), { ...SETTINGS, clusterCIDRs: [...clusterCIDRs] });
      if (out.action !== 'patch') throw new Error(out.action);
      const envoy = out.patch.find((o) => o.path === '/spec/containers/1')!.value as Json;
      const outbound = JSON.parse(envoy.args[1]).static_resources.listeners.find((l: Json) => l.name === 'outbound-listener');
      expect(Boolean(outbound.additional_addresses), clusterCIDRs.join()).to.equal(ipv6);
    }
  });

  it('the bootstrap the sidecar receives follows the MeshConfig\'s traffic.enableEgress', () => {
    for (const enableEgress of [true, false]) {
      const out = mutatePod(podAdmission(curlPod()), curlMesh('osm', { traffic: { enableEgress } }), SETTINGS);
      if (out.action !== 'patch') throw new Error(out.action);
      const envoy = out.patch.find((o) => o.path === '/spec/containers/1')!.value as Json;
      const b = JSON.parse(envoy.args[1]);
      expect(listenerPorts(b).includes(15001)).to.equal(enableEgress);
    }
  });

  describe('the strict checker itself', () => {
    it('rejects an unknown field, naming its path', () => {
      const b = renderBootstrap({ enableEgress: true, ipv6: false, nodeName: 'curl.curl' }) as Json;
      b.static_resources.listeners[1].use_original_dest = true;
      const errors = checkEnvoyMessage(BOOTSTRAP, b);
      expect(errors).to.have.length(1);
      expect(errors[0]).to.include('static_resources.listeners[1].use_original_dest').and.include('unknown field');
    });

    it('rejects an unknown field inside a typed_config (Any resolved by its @type)', () => {
      const b = renderBootstrap({ enableEgress: true, ipv6: false, nodeName: 'curl.curl' }) as Json;
      b.static_resources.listeners[1].default_filter_chain.filters[0].typed_config.clusterr = 'x';
      expect(checkEnvoyMessage(BOOTSTRAP, b).join()).to.include('unknown field "clusterr" in envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy');
    });

    it('rejects a bad enum, a wrong type, a bad duration, an unknown @type and two members of a oneof', () => {
      const b = renderBootstrap({ enableEgress: true, ipv6: false, nodeName: 'curl.curl' }) as Json;
      b.static_resources.clusters[1].lb_policy = 'ORIGINAL_DST_LB';
      b.admin.address.socket_address.port_value = '15000x';
      b.static_resources.clusters[0].connect_timeout = '1 second';
      b.static_resources.listeners[1].listener_filters[0].typed_config['@type'] = 'type.googleapis.com/envoy.Nope';
      b.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.pipe = { path: '/x' };
      const errors = checkEnvoyMessage(BOOTSTRAP, b).join('\n');
      expect(errors).to.include('unknown envoy.config.cluster.v3.Cluster.LbPolicy value "ORIGINAL_DST_LB"');
      expect(errors).to.include('admin.address.socket_address.port_value: expected an integer');
      expect(errors).to.include('connect_timeout: expected a duration');
      expect(errors).to.include('unknown message envoy.Nope');
      expect(errors).to.include('oneof address already set by socket_address');
    });
  });
});
