import { expect } from 'chai';
import { mkdtemp, mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TlsMaterial } from '../../src/certs/certificate-source.js';
import { FileCertificateSource } from '../../src/certs/file-certificate-source.js';
import { generateBundle } from '../../src/certs/generate.js';

const waitFor = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(cond(), what).to.equal(true);
};

/**
 * cert-manager mode: the kubelet projects the Secret as `tls.crt -> ..data/tls.crt` and updates it by
 * writing a new timestamped directory and renaming the `..data` symlink over the old one.
 */
async function kubeletMount(dir: string, files: Record<string, string>, generation: number): Promise<void> {
  const ts = path.join(dir, `..${generation}`);
  await mkdir(ts);
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(ts, name), content);
  await symlink(`..${generation}`, path.join(dir, '..data_tmp'));
  await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  // The top-level links point through ..data and are made once: from the second generation on they exist already.
  for (const name of Object.keys(files)) {
    await symlink(`..data/${name}`, path.join(dir, name)).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
      expect(await readlink(path.join(dir, name)), `${name} already links through ..data`).to.equal(`..data/${name}`);
    });
  }
}

describe('FileCertificateSource (cert-manager mounted Secret)', () => {
  let dir: string;
  let source: FileCertificateSource | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'meshgate-certs-'));
  });
  afterEach(async () => {
    source?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('reloads when the kubelet swaps the ..data symlink, and calls onChange once per change', async () => {
    const one = await generateBundle('one', { dnsNames: ['meshgate.osm-system.svc'] });
    const two = await generateBundle('two', { dnsNames: ['meshgate.osm-system.svc'] });
    await kubeletMount(dir, { 'tls.crt': one.cert, 'tls.key': one.key }, 1);
    source = new FileCertificateSource({ certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), pollIntervalMs: 60_000 });
    expect((await source.start()).cert).to.equal(one.cert);
    const seen: TlsMaterial[] = [];
    source.onChange((t) => seen.push(t));
    await kubeletMount(dir, { 'tls.crt': two.cert, 'tls.key': two.key }, 2);
    await waitFor(() => seen.length === 1, 'fs.watch on the directory saw the swap');
    expect(seen[0]).to.deep.equal({ cert: two.cert, key: two.key });
    expect(source.current().cert).to.equal(two.cert);
    // reload() joins a read still in flight from the watch events (which reports the change it made):
    // let that one settle, then a fresh read finds nothing new.
    await source.reload();
    expect(await source.reload()).to.equal(false);
    expect(seen).to.have.length(1);
  });

  it('never serves a certificate with a key that does not match (half-written update); polling alone picks up changes', async () => {
    const one = await generateBundle('one', { dnsNames: ['a'] });
    const two = await generateBundle('two', { dnsNames: ['a'] });
    const cert = path.join(dir, 'tls.crt');
    const key = path.join(dir, 'tls.key');
    await writeFile(cert, one.cert);
    await writeFile(key, one.key);
    source = new FileCertificateSource({ certFile: cert, keyFile: key, pollIntervalMs: 50, watch: false });
    await source.start();
    const seen: TlsMaterial[] = [];
    source.onChange((t) => seen.push(t));
    await writeFile(cert, two.cert); // key not yet written
    expect(await source.reload()).to.equal(false);
    expect(source.current().cert).to.equal(one.cert);
    await writeFile(key, two.key);
    await waitFor(() => seen.length === 1, 'the poll picked up the complete pair');
    expect(source.current()).to.deep.equal({ cert: two.cert, key: two.key });
  });

  it('fails to start on files that are not a certificate and its key', async () => {
    const one = await generateBundle('one', { dnsNames: ['a'] });
    const two = await generateBundle('two', { dnsNames: ['a'] });
    await writeFile(path.join(dir, 'tls.crt'), one.cert);
    await writeFile(path.join(dir, 'tls.key'), two.key);
    source = new FileCertificateSource({ certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key') });
    const err = await source.start().then(() => undefined, (e: Error) => e);
    expect(err?.message).to.match(/are not a certificate and its private key/);
  });
});
