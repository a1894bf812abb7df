import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CertificateSource, TlsMaterial } from '../../src/certs/certificate-source.js';
import { followXdsCa } from '../../src/cli/xds-ca.js';
import { DEFAULT_SETTINGS, type MeshgateSettings } from '../../src/settings.js';
import { XDS_CA_PEM } from '../injector/fixtures.js';

function logger() {
  const lines: string[] = [];
  return { lines, info: (_o: object, m?: string) => lines.push(`info ${m}`), warn: (_o: object, m?: string) => lines.push(`warn ${m}`), error: (_o: object, m?: string) => lines.push(`error ${m}`) };
}

/** The self-managed certificate Secret as serve sees it: current(), onChange(), and its CA bundle. */
class FakeManagedSource implements CertificateSource {
  listeners = new Set<(tls: TlsMaterial) => void>();
  constructor(public bundle: string) {}
  current(): TlsMaterial {
    return { cert: 'c', key: 'k' };
  }
  caBundle(): string {
    return this.bundle;
  }
  onChange(l: (tls: TlsMaterial) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  fire(): void {
    for (const l of this.listeners) l(this.current());
  }
  stop(): void {}
}

describe('serve: the CA injected sidecars trust for ADS follows the certificate source', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'meshgate-xds-ca-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('self-managed Secret: its whole CA bundle, the Service and namespace; a rotation reaches the settings on the change event', () => {
    const settings: MeshgateSettings = structuredClone(DEFAULT_SETTINGS);
    const source = new FakeManagedSource(XDS_CA_PEM);
    const log = logger();
    const stop = followXdsCa(settings, { serviceName: 'meshgate', namespace: 'osm-system', source, logger: log });
    try {
      expect(settings.xds).to.deep.include({ serviceName: 'meshgate', namespace: 'osm-system', port: 15128 });
      expect(settings.xds.caPem.trim()).to.equal(XDS_CA_PEM.trim());
      const held = settings.xds;
      // A CA rotation starts: the bundle holds the current and the next CA (here the same text twice).
      source.bundle = `${XDS_CA_PEM}\n${XDS_CA_PEM}`;
      source.fire();
      expect(settings.xds.caPem.match(/BEGIN CERTIFICATE/g)).to.have.length(2);
      expect(held.caPem.match(/BEGIN CERTIFICATE/g), 'the old xds object is not changed in place').to.have.length(1);
      expect(log.lines.join()).to.include('xDS CA changed');
      // Garbage (a Secret being rewritten) keeps the CA already known.
      source.bundle = 'not a certificate';
      source.fire();
      expect(settings.xds.caPem.match(/BEGIN CERTIFICATE/g)).to.have.length(2);
    } finally {
      stop();
    }
    expect(source.listeners.size, 'stop() unsubscribes').to.equal(0);
  });

  it('--tls-cert: ca.crt beside it (cert-manager\'s layout); without one, a warning and no roots', () => {
    writeFileSync(join(dir, 'tls.crt'), 'x');
    const none = structuredClone(DEFAULT_SETTINGS);
    const log = logger();
    followXdsCa(none, { serviceName: 'meshgate', namespace: 'fsm-system', tlsCertPath: join(dir, 'tls.crt'), logger: log })();
    expect(none.xds.caPem).to.equal('');
    expect(log.lines.join()).to.match(/^warn no CA for injected sidecars/);

    writeFileSync(join(dir, 'ca.crt'), XDS_CA_PEM);
    const settings = structuredClone(DEFAULT_SETTINGS);
    followXdsCa(settings, { serviceName: 'meshgate', namespace: 'fsm-system', tlsCertPath: join(dir, 'tls.crt'), logger: logger() })();
    expect(settings.xds.caPem.trim()).to.equal(XDS_CA_PEM.trim());
    expect(settings.xds.namespace).to.equal('fsm-system');
  });
});
