/**
 * The Envoy stand-in through the kernel: the interception rules run in the pod namespace, the
 * stand-in (UID 1500) enforces hand-written configs in the compiler's format (compiled-shapes.md),
 * and real curl as the app UID (1000) reaches upstream services in the external namespace:
 * HTTP on 80, TLS on 443, a server-first service on 3306 and the rig's identity listener on 8080.
 * Needs root (CI runs as root).
 */
import { expect } from 'chai';
import { renderInterceptionScript } from '../../src/injector/iptables/script.js';
import { EnvoyStandin, checkProxyConfig, type Hosts, type ProxyConfig } from '../support/netns/envoy-standin.js';
import { ADDR, APP_UID, NetnsRig, PROXY_UID, assertRoot } from '../support/netns/rig.js';
import { curlIn, startUpstreams, timedClient as timedClientIn, type CurlResult, type Upstreams } from '../support/netns/upstreams.js';

const EXT = ADDR.v4.external; // 203.0.113.10: httpbin.org in the stand-in's hosts file
const OTHER = ADDR.v4.included; // 192.0.2.130: an address no config names (intercepted)
const HOSTS: Hosts = { 'httpbin.org': EXT, 'api.example.com': EXT };

// ---- Hand-written configs, field for field in the compiled-shapes.md format ----------------------

const T = 'type.googleapis.com/';
const LISTENER_FILTERS = ['original_dst', 'tls_inspector', 'http_inspector'] as const;
const TYPE_OF = { original_dst: 'OriginalDst', tls_inspector: 'TlsInspector', http_inspector: 'HttpInspector' } as const;

function portRange(p: number) {
  return { destination_port_range: { start: p, end: p + 1 } };
}

/** original_dst, tls_inspector, http_inspector; the inspectors disabled on `serverFirst` ports. */
function listenerFilters(serverFirst: number[] = []) {
  const disabled =
    serverFirst.length === 0 ? undefined : serverFirst.length === 1 ? portRange(serverFirst[0]!) : { or_match: { rules: serverFirst.map(portRange) } };
  return LISTENER_FILTERS.map((f) => ({
    name: `envoy.filters.listener.${f}`,
    typed_config: { '@type': `${T}envoy.extensions.filters.listener.${f}.v3.${TYPE_OF[f]}` },
    ...(f !== 'original_dst' && disabled ? { filter_disabled: disabled } : {}),
  }));
}

function listener(o: { chains: unknown[]; defaultChain?: unknown; ipv6?: boolean; serverFirst?: number[] }) {
  return {
    '@type': `${T}envoy.config.listener.v3.Listener`,
    name: 'outbound-listener',
    address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
    ...(o.ipv6 ? { additional_addresses: [{ address: { socket_address: { address: '::', port_value: 15001 } } }] } : {}),
    traffic_direction: 'OUTBOUND',
    continue_on_listener_filters_timeout: true,
    listener_filters: listenerFilters(o.serverFirst),
    filter_chains: o.chains,
    ...(o.defaultChain ? { default_filter_chain: o.defaultChain } : {}),
  };
}

const tcpProxy = (cluster: string, stat = cluster) => ({
  name: 'envoy.filters.network.tcp_proxy',
  typed_config: { '@type': `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`, stat_prefix: stat, cluster },
});
const DNS_CACHE = { name: 'egress-dns-cache', dns_lookup_family: 'V4_PREFERRED' };

function httpChain(port: number) {
  return {
    name: `http-${port}`,
    filter_chain_match: { destination_port: port, transport_protocol: 'raw_buffer', application_protocols: ['http/1.0', 'http/1.1', 'h2c'] },
    filters: [
      {
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
          stat_prefix: `egress-http-${port}`,
          rds: { route_config_name: `egress-http-${port}`, config_source: { ads: {}, resource_api_version: 'V3' } },
          http_filters: [
            {
              name: 'envoy.filters.http.dynamic_forward_proxy',
              typed_config: { '@type': `${T}envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig`, dns_cache_config: DNS_CACHE },
            },
            { name: 'envoy.filters.http.router', typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` } },
          ],
          normalize_path: true,
          merge_slashes: true,
        },
      },
    ],
    metadata: { filter_metadata: { 'meshgate.io': { policies: ['curl/httpbin'] } } },
  };
}

/** An https chain: SNI in serverNames → DNS(SNI):port through the SNI dynamic forward proxy. */
function sniChain(port: number, serverNames: string[]) {
  return {
    name: `https-${port}`,
    filter_chain_match: { destination_port: port, server_names: serverNames },
    filters: [
      {
        name: 'envoy.filters.network.sni_dynamic_forward_proxy',
        typed_config: {
          '@type': `${T}envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig`,
          dns_cache_config: DNS_CACHE,
          port_value: port,
        },
      },
      tcpProxy('egress-dynamic-forward-proxy', `egress-https-${port}`),
    ],
  };
}

const tcpChain = (port: number) => ({ name: `tcp-${port}`, filter_chain_match: { destination_port: port }, filters: [tcpProxy('passthrough-outbound')] });
const DEFAULT_PASSTHROUGH = { name: 'default-passthrough', filters: [tcpProxy('passthrough-outbound')] };

const route = (name: string, match: unknown, cluster: string) => ({ name, match, route: { cluster, timeout: '0s' } });
const ACCESS_DENIED = { status: 403, body: { inline_string: 'Access denied' } };

/** httpbin.org: GET /get and /status/N, 403 under /admin; *.example.com through the forward proxy. */
function routes80(o: { onlyStatus?: boolean } = {}) {
  return {
    '@type': `${T}envoy.config.route.v3.RouteConfiguration`,
    name: 'egress-http-80',
    virtual_hosts: [
      {
        name: 'httpbin.org',
        domains: ['httpbin.org', 'httpbin.org:80'],
        routes: [
          route(
            'httpbin-get',
            { safe_regex: { regex: o.onlyStatus ? '/status/[0-9]+' : '/(get|status/[0-9]+)' }, headers: [{ name: ':method', string_match: { exact: 'GET' } }] },
            'httpbin.org:80',
          ),
          { name: 'httpbin-admin', match: { prefix: '/admin' }, direct_response: ACCESS_DENIED },
        ],
      },
      { name: '*.example.com', domains: ['*.example.com'], routes: [route('example-any', { prefix: '/' }, 'egress-dynamic-forward-proxy')] },
    ],
    validate_clusters: false,
  };
}

const CLUSTERS = [
  { '@type': `${T}envoy.config.cluster.v3.Cluster`, name: 'passthrough-outbound', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '5s' },
  {
    '@type': `${T}envoy.config.cluster.v3.Cluster`,
    name: 'httpbin.org:80',
    type: 'LOGICAL_DNS',
    dns_lookup_family: 'V4_PREFERRED',
    connect_timeout: '5s',
    load_assignment: {
      cluster_name: 'httpbin.org:80',
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'httpbin.org', port_value: 80 } } } }] }],
    },
  },
  {
    '@type': `${T}envoy.config.cluster.v3.Cluster`,
    name: 'egress-dynamic-forward-proxy',
    lb_policy: 'CLUSTER_PROVIDED',
    connect_timeout: '5s',
    cluster_type: {
      name: 'envoy.clusters.dynamic_forward_proxy',
      typed_config: { '@type': `${T}envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig`, dns_cache_config: DNS_CACHE },
    },
  },
];

function config(version: string, l?: ReturnType<typeof listener>, routes: unknown[] = [routes80()]): ProxyConfig {
  return { version, listeners: l ? [l] : [], routeConfigurations: l ? routes : [], clusters: l ? CLUSTERS : [] };
}

const NO_LISTENER = config('v-closed');
const HTTP_80 = config('v-http', listener({ chains: [httpChain(80)], ipv6: true }));

describe('Envoy stand-in: the compiled subset enforced through the kernel', function () {
  this.timeout(120_000);
  before(assertRoot);

  let rig: NetnsRig | undefined;
  let proxy: EnvoyStandin | undefined;
  let upstreams: Upstreams | undefined;

  before(async () => {
    rig = await NetnsRig.create({ extPorts: [8080] });
    upstreams = await startUpstreams(rig);
    const script = renderInterceptionScript({
      chainPrefix: 'OSM_',
      proxyUid: PROXY_UID,
      outboundPort: 15001,
      clusterCIDRs: [ADDR.v4.clusterCIDR, ADDR.v6.clusterCIDR],
      excludeCIDRs: [],
      includeCIDRs: [],
      excludePorts: [],
      excludeInterfaces: [],
      backend: 'auto',
    });
    const r = await rig.runScript(script);
    expect(r.code, `interception script:\n${r.stdout}\n${r.stderr}`).to.equal(0);
  });
  after(async () => {
    await proxy?.stop();
    await rig?.destroy();
    upstreams?.cleanup();
  });

  /** (Re)starts the stand-in with this config for one test; its log is shown when a test fails. */
  async function useProxy(cfg: ProxyConfig, opts: { listenerFiltersTimeoutS?: number } = {}): Promise<EnvoyStandin> {
    await proxy?.stop();
    proxy = undefined;
    proxy = await EnvoyStandin.start(rig!, cfg, HOSTS, opts);
    return proxy;
  }
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && proxy) console.log(`--- stand-in log ---\n${proxy.log}`);
    await proxy?.stop();
    proxy = undefined;
  });

  /** Real curl in the pod namespace as the app UID (through the interception rules). */
  const curl = (args: string[]): Promise<CurlResult> => curlIn(rig!, args);
  const json = (r: CurlResult) => JSON.parse(r.body) as { local: string; path: string; host: string; method: string };
  const show = (r: CurlResult) => `curl exit ${r.code}: ${r.stderr}\n${r.body}\n--- stand-in log ---\n${proxy?.log ?? ''}`;

  const timedClient = (host: string, port: number, seconds: number, lines: number, send?: string) => timedClientIn(rig!, host, port, seconds, lines, send);

  it('with no listener nothing listens on 15001: curl exits 7', async () => {
    await useProxy(NO_LISTENER);
    const r = await curl(['--resolve', `httpbin.org:80:${EXT}`, 'http://httpbin.org/get']);
    expect(r.code, show(r)).to.equal(7);
  });

  describe('HTTP chain (port 80, virtual host httpbin.org)', () => {
    beforeEach(async () => useProxy(HTTP_80));

    it('an allowed request reaches httpbin.org at its hosts-file address: 200', async () => {
      const r = await curl(['--resolve', `httpbin.org:80:${EXT}`, 'http://httpbin.org/get']);
      expect(r.status, show(r)).to.equal(200);
      expect(json(r)).to.include({ local: `${EXT}:80`, path: '/get', host: 'httpbin.org' });
      expect(r.headers['server']).to.equal('envoy');
      expect(proxy!.log).to.match(/chain=http-80 .*vhost=httpbin\.org route=httpbin-get .*: 200/);
    });

    it('serves several requests on one kept-alive connection', async () => {
      const r = await rig!.exec(
        ['curl', '-sS', '-w', '%{http_code} %{num_connects}\\n', '--resolve', `httpbin.org:80:${EXT}`, '-o', '/dev/null', 'http://httpbin.org/get', '-o', '/dev/null', 'http://httpbin.org/status/200'],
        APP_UID,
      );
      expect(r.stdout.trim().split('\n'), r.stderr).to.deep.equal(['200 1', '200 0']);
    });

    it('matches the regex on the normalized path (dot segments, merged slashes) and forwards that path', async () => {
      const r = await curl(['--path-as-is', '--resolve', `httpbin.org:80:${EXT}`, 'http://httpbin.org//status/..//get/.?x=1']);
      // "/get/" after normalization: the full-match regex wants "/get", so this is not matched…
      expect(r.status, show(r)).to.equal(404);
      const ok = await curl(['--path-as-is', '--resolve', `httpbin.org:80:${EXT}`, 'http://httpbin.org//status/..//get?x=1']);
      expect(ok.status, show(ok)).to.equal(200);
      expect(json(ok).path).to.equal('/get?x=1');
    });

    it('a path the safe_regex does not fully match, or another method, is 404 (no route)', async () => {
      for (const args of [['http://httpbin.org/getx'], ['http://httpbin.org/anything'], ['-X', 'POST', 'http://httpbin.org/get']]) {
        const r = await curl(['--resolve', `httpbin.org:80:${EXT}`, ...args]);
        expect(r.status, `${args.join(' ')}\n${show(r)}`).to.equal(404);
        expect(r.body).to.equal('');
        expect(r.headers).to.include({ 'content-length': '0', server: 'envoy' });
      }
    });

    it('an unknown Host is 404 with an empty body, like Envoy with no virtual host', async () => {
      const r = await curl(['--resolve', `unlisted.test:80:${EXT}`, 'http://unlisted.test/get']);
      expect(r.status, show(r)).to.equal(404);
      expect(r.body).to.equal('');
      expect(r.headers['server']).to.equal('envoy');
      expect(proxy!.log).to.match(/host=unlisted\.test .*vhost=<none>: 404/);
    });

    it('a direct_response route answers 403 "Access denied"', async () => {
      const r = await curl(['--resolve', `httpbin.org:80:${EXT}`, 'http://httpbin.org/admin/users']);
      expect(r.status, show(r)).to.equal(403);
      expect(r.body).to.equal('Access denied');
    });

    it('a forged Host reaches the name the proxy resolves, never the dialed address', async () => {
      const r = await curl(['-H', 'Host: httpbin.org', `http://${OTHER}/get`]);
      expect(r.status, show(r)).to.equal(200);
      expect(json(r).local).to.equal(`${EXT}:80`);
      // The same over IPv6 (IP6T_SO_ORIGINAL_DST, the [::]:15001 socket).
      const v6 = await curl(['-g', '-H', 'Host: httpbin.org', `http://[${ADDR.v6.external}]/get`]);
      expect(v6.status, show(v6)).to.equal(200);
      expect(json(v6).local).to.equal(`${EXT}:80`);
    });

    it('*.example.com goes through the dynamic forward proxy: DNS(Host); an unknown name is 503', async () => {
      const r = await curl(['--resolve', `api.example.com:80:${OTHER}`, 'http://api.example.com/anything']);
      expect(r.status, show(r)).to.equal(404); // upstreams.py's own 404: it was reached
      expect(json(r)).to.include({ local: `${EXT}:80`, host: 'api.example.com' });
      const missing = await curl(['--resolve', `nowhere.example.com:80:${EXT}`, 'http://nowhere.example.com/get']);
      expect(missing.status, show(missing)).to.equal(503);
    });

    it('no chain matches port 8080 and there is no default chain: reset, curl exits 56', async () => {
      const r = await curl([`http://${EXT}:8080/`]);
      expect(r.code, show(r)).to.equal(56);
      expect(proxy!.log).to.match(/chain=<none>: reset/);
    });
  });

  describe('TLS chains on 443', () => {
    const httpsCfg = config('v-https', listener({ chains: [httpChain(80), sniChain(443, ['httpbin.org'])] }));

    it('a listed SNI goes through the SNI forward proxy to DNS(SNI), not the dialed address', async () => {
      await useProxy(httpsCfg);
      const r = await curl(['-k', '--resolve', `httpbin.org:443:${OTHER}`, 'https://httpbin.org/get']);
      expect(r.status, show(r)).to.equal(200);
      expect(r.body.trim()).to.equal(`tls local=${EXT}:443 sni=httpbin.org path=/get`);
      expect(proxy!.log).to.match(/transport=tls sni=httpbin\.org .*chain=https-443 cluster=egress-dynamic-forward-proxy/);
    });

    it('an SNI that is not listed is reset during the handshake: curl exits 35', async () => {
      await useProxy(httpsCfg);
      const r = await curl(['-k', '--resolve', `unlisted.test:443:${EXT}`, 'https://unlisted.test/get']);
      expect(r.code, show(r)).to.equal(35);
    });

    it('a TLS client offering ALPN http/1.1 on port 80 does not land in the raw_buffer HTTP chain', async () => {
      await useProxy(httpsCfg);
      const r = await curl(['-k', '--resolve', `httpbin.org:80:${EXT}`, 'https://httpbin.org:80/get']);
      expect(r.code, show(r)).to.equal(35);
    });

    it('a tcp chain on 443 without server_names passes anything to the original destination', async () => {
      await useProxy(config('v-tcp443', listener({ chains: [tcpChain(443)] })));
      const r = await curl(['-k', '--resolve', `whatever.test:443:${OTHER}`, 'https://whatever.test/x']);
      expect(r.status, show(r)).to.equal(200);
      expect(r.body.trim()).to.equal(`tls local=${OTHER}:443 sni=whatever.test path=/x`);
    });

    it('narrows field by field and never backtracks; *.suffix matches any depth but not the apex', async () => {
      const a = sniChain(443, ['a.test']);
      const scoped = { ...a, name: 'https-443-scoped', filter_chain_match: { ...a.filter_chain_match, prefix_ranges: [{ address_prefix: '192.0.2.128', prefix_len: 25 }] } };
      await useProxy(config('v-narrow', listener({ chains: [scoped, sniChain(443, ['b.test', '*.example.com'])] })));
      proxy!.setHosts({ ...HOSTS, 'a.test': EXT, 'b.test': EXT, 'deep.api.example.com': EXT, 'example.com': EXT });
      const tls = async (name: string, ip: string) => {
        const r = await curl(['-k', '--resolve', `${name}:443:${ip}`, `https://${name}/`]);
        return r.code === 0 ? r.body.trim() : r.code;
      };
      const reached = (name: string) => `tls local=${EXT}:443 sni=${name} path=/`;
      // 192.0.2.130 is in the scoped chain's prefix: only that chain is left, so b.test (named only
      // by the other chain) is reset there, and so is api.example.com: no backtracking.
      expect(await tls('b.test', OTHER)).to.equal(35);
      expect(await tls('api.example.com', OTHER)).to.equal(35);
      expect(await tls('a.test', OTHER)).to.equal(reached('a.test'));
      expect(await tls('b.test', EXT)).to.equal(reached('b.test'));
      expect(await tls('a.test', EXT)).to.equal(35);
      expect(await tls('deep.api.example.com', EXT)).to.equal(reached('deep.api.example.com'));
      expect(await tls('example.com', EXT)).to.equal(35);
    });

    it('a default chain passes unmatched connections to the original destination (IPv4 and IPv6)', async () => {
      await useProxy(config('v-default', listener({ chains: [httpChain(80)], defaultChain: DEFAULT_PASSTHROUGH, ipv6: true })));
      // The client speaks first, so the inspectors conclude at once (raw, not HTTP).
      for (const host of [OTHER, ADDR.v6.external]) {
        const r = await timedClient(host, 8080, 5, 1, 'hello\\n');
        expect(r, proxy!.log).to.deep.include({ ok: true, reply: `ext host=${host} port=8080\n` });
      }
      expect(proxy!.log).to.match(/chain=default-passthrough cluster=passthrough-outbound/);
    });
  });

  describe('server-first port 3306 (listener filter timeout 3 s)', () => {
    const sf = (serverFirst: number[]) => config(`v-sf-${serverFirst.join('-')}`, listener({ chains: [tcpChain(3306)], serverFirst }));

    it('with the inspectors disabled on 3306 the banner arrives at once, and bytes flow both ways', async () => {
      await useProxy(sf([3306, 5432]), { listenerFiltersTimeoutS: 3 });
      const r = await timedClient(EXT, 3306, 8, 1);
      expect(r.reply).to.equal(`banner local=${EXT}:3306\n`);
      expect(r.first, proxy!.log).to.be.a('number').and.below(1.5);
      const echo = await timedClient(EXT, 3306, 8, 2, 'PING\\n');
      expect(echo.reply).to.equal(`banner local=${EXT}:3306\necho PING\n`);
    });

    it('with the inspectors on, a silent client gets the banner only after the listener filter timeout', async () => {
      await useProxy(sf([]), { listenerFiltersTimeoutS: 3 });
      const r = await timedClient(EXT, 3306, 10, 1);
      expect(r.reply).to.equal(`banner local=${EXT}:3306\n`);
      expect(r.first, proxy!.log).to.be.a('number').and.at.least(2.5);
      expect(proxy!.log).to.match(/inspect=timeout/);
      // A client that speaks first ends inspection at once (neither TLS nor HTTP).
      const talk = await timedClient(EXT, 3306, 10, 2, 'QUIT\\r\\n');
      expect(talk.first, proxy!.log).to.be.a('number').and.below(1.5);
      expect(talk.reply).to.equal(`banner local=${EXT}:3306\necho QUIT\r\n`);
    });
  });

  describe('strictness', () => {
    const base = (): ProxyConfig => structuredClone(config('v-strict', listener({ chains: [httpChain(80), sniChain(443, ['httpbin.org'])], defaultChain: DEFAULT_PASSTHROUGH })));
    type Mutable = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const L = (c: ProxyConfig) => c.listeners[0] as Mutable;

    it('accepts the configs these tests use', async () => {
      for (const c of [base(), HTTP_80, NO_LISTENER]) expect(await checkProxyConfig(c)).to.deep.include({ ok: true });
    });

    const cases: [string, (c: ProxyConfig) => void, RegExp][] = [
      ['an unknown field', (c) => (L(c).filter_chains[0].filter_chain_match.source_prefix_ranges = []), /filter_chains\[0\]\.filter_chain_match\.source_prefix_ranges: unknown field/],
      ['an unknown top-level key', (c) => ((c as Mutable).secrets = []), /config\.secrets: unknown field/],
      ['an unknown network filter', (c) => (L(c).filter_chains[1].filters[1].name = 'envoy.filters.network.echo'), /filters\[1\]\.name: must be one of/],
      ['a wrong @type', (c) => (L(c).listener_filters[1].typed_config['@type'] = `${T}envoy.extensions.filters.listener.tls_inspector.v2.TlsInspector`), /listener_filters\[1\]\.typed_config\.@type/],
      ['an unknown cluster type', (c) => ((c.clusters[1] as Mutable).type = 'STRICT_DNS'), /clusters\[1\]\.type: must be one of ORIGINAL_DST, LOGICAL_DNS/],
      ['an unknown route match kind', (c) => ((c.routeConfigurations[0] as Mutable).virtual_hosts[0].routes[1].match = { path_separated_prefix: '/admin' }), /routes\[1\]\.match\.path_separated_prefix: unknown field/],
      ['a dangling rds name', (c) => ((c.routeConfigurations[0] as Mutable).name = 'egress-http-8080'), /rds\.route_config_name: route configuration egress-http-80 is not in routeConfigurations/],
      ['a dangling cluster', (c) => (c.clusters = c.clusters.filter((x) => (x as Mutable).name !== 'httpbin.org:80')), /route\.cluster: cluster httpbin\.org:80 is not in clusters/],
      ['two chains with the same match', (c) => L(c).filter_chains.push({ ...sniChain(443, ['httpbin.org']), name: 'https-443-again' }), /same matching rules as filter chain https-443/],
      ['a repeated domain', (c) => (c.routeConfigurations[0] as Mutable).virtual_hosts[1].domains.push('HTTPBIN.org'), /domain httpbin\.org repeats/],
      ['no chain and no default chain', (c) => ((L(c).filter_chains = []), delete L(c).default_filter_chain), /a listener needs a filter chain or a default_filter_chain/],
    ];
    for (const [what, mutate, message] of cases) {
      it(`refuses ${what}`, async () => {
        const c = base();
        mutate(c);
        const r = await checkProxyConfig(c);
        expect(r.ok).to.equal(false);
        if (!r.ok) expect(r.error).to.match(message).and.not.include('\n');
      });
    }

    it('refuses to start in the pod namespace, naming the field', async () => {
      const c = base();
      L(c).per_connection_buffer_limit_bytes = 1024;
      let error = '';
      await EnvoyStandin.start(rig!, c, HOSTS).then(
        async (p) => p.stop(),
        (err: Error) => (error = err.message),
      );
      expect(error).to.match(/exited 1 before ready: envoy-standin: invalid config: listeners\[0\]\.per_connection_buffer_limit_bytes: unknown field/);
    });
  });

  it('reload (SIGHUP): the next connection sees the new config; a bad config keeps the old one', async () => {
    const p = await useProxy(NO_LISTENER);
    const get = (path: string) => curl(['--resolve', `httpbin.org:80:${EXT}`, `http://httpbin.org${path}`]);
    expect((await get('/get')).code).to.equal(7);

    expect(await p.reload(HTTP_80)).to.deep.equal({ ok: true, version: 'v-http' });
    expect((await get('/get')).status).to.equal(200);

    const broken = structuredClone(HTTP_80) as ProxyConfig & { bogus?: boolean };
    broken.bogus = true;
    expect(await p.reload(broken)).to.deep.equal({ ok: false, error: 'config.bogus: unknown field' });
    expect((await get('/get')).status).to.equal(200);

    const narrower = config('v-status-only', listener({ chains: [httpChain(80)] }), [routes80({ onlyStatus: true })]);
    expect(await p.reload(narrower)).to.deep.include({ ok: true });
    expect((await get('/get')).status).to.equal(404);
    expect((await get('/status/200')).status).to.equal(200);

    expect(await p.reload(NO_LISTENER)).to.deep.include({ ok: true });
    expect((await get('/status/200')).code).to.equal(7);
  });
});
