/**
 * The images `npm run images` builds (images/build.sh), run for real: the server image under
 * podman as its non-root user with a read-only root filesystem, serving the example state over
 * HTTPS; and the names `meshgate install` and the injector use, checked against the tags the
 * archives carry. The init image's root filesystem runs the interception script in
 * test/netns/interception.test.ts. Needs root and Debian's podman, runc, buildah and mmdebstrap
 * (.ci/run installs them); without them these tests fail, saying what to install.
 */
import { expect } from 'chai';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { generateBundle } from '../../src/certs/generate.js';
import { builtImages } from '../../src/images.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import { MESHGATE_VERSION } from '../../src/version.js';
import { freePort } from '../support/free-port.js';
import { buildImages, loadServerImage, podman, REPO, type BuiltImages } from '../support/images.js';
import { runCli } from '../support/run-cli.js';

const docs = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJS());

describe('images (npm run images)', function () {
  this.timeout(20 * 60_000);
  let images: BuiltImages;
  before(async () => {
    images = await buildImages();
  });

  describe('names', () => {
    it('tags both archives with the package version, as src/images.ts names them', () => {
      expect(images.server.ref).to.equal(builtImages().server);
      expect(images.init.ref).to.equal(builtImages().init);
      expect(images.server.ref).to.equal(`meshgate/meshgate:${MESHGATE_VERSION}`);
      expect(images.init.ref).to.equal(`meshgate/meshgate-init:${MESHGATE_VERSION}`);
    });

    it('names only images the build produces: meshgate install, manifests/ and the injector default', async () => {
      const install = await runCli(['install']);
      expect(install.code, install.stderr).to.equal(0);
      const deployment = docs(install.stdout).find((o: any) => o.kind === 'Deployment');
      const base = docs(readFileSync(join(REPO, 'manifests', 'deployment.yaml'), 'utf8')).find((o: any) => o.kind === 'Deployment');
      for (const d of [deployment, base]) {
        expect(d.spec.template.spec.containers.map((c: { image: string }) => c.image)).to.deep.equal([images.server.ref]);
      }
      expect(DEFAULT_SETTINGS.defaultInitImage).to.equal(images.init.ref);
      const injected = await runCli(['inject', '-f', 'examples/workloads/curl.yaml', '--state', 'examples/state', '--xds-ca', 'test/injector/xds-ca.crt'], { cwd: REPO });
      expect(injected.code, injected.stderr).to.equal(0);
      const pod = docs(injected.stdout).find((o: any) => o.kind === 'Deployment');
      expect(pod.spec.template.spec.initContainers.map((c: { image: string }) => c.image)).to.deep.equal([images.init.ref]);
    });
  });

  describe('the server image under podman (non-root, read-only root filesystem)', () => {
    let ref: string;
    let dir: string;
    let ca: string;
    let port: number;
    const containers: string[] = [];
    const base = () => ['run', '--rm', '--read-only', '--user', '65532:65532', '--network', 'host'];

    before(async () => {
      ref = await loadServerImage();
      dir = mkdtempSync(join(tmpdir(), 'mg-image-'));
      chmodSync(dir, 0o755);
      const bundle = await generateBundle('meshgate image test CA', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
      ca = bundle.caCert;
      // readable by the image's UID 65532 (a test key, thrown away with the directory)
      writeFileSync(join(dir, 'tls.crt'), bundle.cert, { mode: 0o644 });
      writeFileSync(join(dir, 'tls.key'), bundle.key, { mode: 0o644 });
      port = await freePort();
    });
    after(async () => {
      for (const name of containers) await podman(['rm', '--force', '--time', '0', name]);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('prints the package version, writing nothing to stderr even with no writable /tmp at all', async () => {
      for (const tmpfs of ['--read-only-tmpfs=true', '--read-only-tmpfs=false']) {
        const r = await podman([...base(), tmpfs, ref, '--version']);
        expect(r.code, r.stderr).to.equal(0);
        expect(r.stdout.trim()).to.equal(MESHGATE_VERSION);
        expect(r.stderr).to.equal('');
      }
    });

    it('refuses a bad flag or value clearly, with a non-zero exit', async () => {
      const unknown = await podman([...base(), ref, 'serve', '--no-such-flag']);
      expect(unknown.code).to.be.a('number').and.not.equal(0);
      // commander's error line, then its usage hint
      expect(unknown.stderr.trim().split('\n')).to.deep.equal(["error: unknown option '--no-such-flag'", '(run with --help for usage)']);
      const bad = await podman([...base(), ref, 'install', '--replicas', '0']);
      expect(bad.code).to.equal(2);
      expect(bad.stderr.trim().split('\n')).to.deep.equal(['meshgate: --replicas: "0" is not a positive integer: use e.g. --replicas 2']);
      expect(bad.stdout).to.equal('');
    });

    it('serves the mounted example state over HTTPS: /readyz answers 200', async () => {
      const name = `meshgate-image-test-${process.pid}`;
      containers.push(name);
      const xdsPort = await freePort();
      const started = await podman([
        ...base().filter((a) => a !== '--rm'),
        '--detach',
        '--name',
        name,
        '-v',
        `${join(REPO, 'examples', 'state')}:/state:ro`,
        '-v',
        `${dir}:/certs:ro`,
        ref,
        'serve',
        '--state',
        '/state',
        '--tls-cert',
        '/certs/tls.crt',
        '--tls-key',
        '/certs/tls.key',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--xds-port',
        String(xdsPort),
      ]);
      expect(started.code, started.stderr).to.equal(0);
      const status = await readyz(port, ca, 60_000);
      const logs = await podman(['logs', name]);
      expect(status, `podman logs:\n${logs.stdout}${logs.stderr}`).to.equal(200);
      // nothing in the logs about a file it could not write (read-only root, compile cache)
      expect(`${logs.stdout}${logs.stderr}`).not.to.match(/EROFS|read-only file system|EACCES|compile cache/i);
      const stop = await podman(['stop', '--time', '10', name]);
      expect(stop.code, stop.stderr).to.equal(0);
    });
  });
});

/** GET https://127.0.0.1:PORT/readyz until it answers (the server is starting), within `withinMs`. */
async function readyz(port: number, ca: string, withinMs: number): Promise<number | string> {
  const deadline = Date.now() + withinMs;
  let last: number | string = 'no answer';
  while (Date.now() < deadline) {
    last = await new Promise<number | string>((done) => {
      const req = request({ host: '127.0.0.1', port, path: '/readyz', ca, servername: 'localhost', timeout: 2_000 }, (res) => {
        res.resume();
        done(res.statusCode ?? 'no status');
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => done(err.message));
      req.end();
    });
    if (last === 200) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}
