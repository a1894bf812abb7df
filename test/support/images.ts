/**
 * meshgate's two images for the tests: built once per test run by the same script as
 * `npm run images` (images/build.sh, which reuses its archives only when a hash of every input is
 * unchanged, so a stale image is never tested), then read from the OCI archives themselves: the tag
 * each archive carries, the init image's root filesystem unpacked for chroot, the server image
 * loaded into podman (images/podman.sh, a storage of its own under build/podman).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BUILD_SCRIPT = join(REPO, 'images', 'build.sh');
export const PODMAN = join(REPO, 'images', 'podman.sh');
export const IMAGES_DIR = join(REPO, 'build', 'images');

const DEBIAN_PACKAGES = 'podman runc buildah mmdebstrap skopeo uidmap binutils';
const TOOLS = ['podman', 'runc', 'buildah', 'mmdebstrap', 'strip'];

export interface BuiltImage {
  /** The OCI archive. */
  archive: string;
  /** The repository:tag the archive names (its index's org.opencontainers.image.ref.name). */
  ref: string;
}

export interface BuiltImages {
  server: BuiltImage;
  init: BuiltImage;
  /** images/build.sh's report (built, or up to date). */
  log: string;
}

export interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function exec(argv: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Exec> {
  return new Promise((done) => {
    execFile(
      argv[0]!,
      argv.slice(1),
      { timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, env: opts.env ?? process.env },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
        done({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Throws, naming what to install, unless the image tools are here and the tests run as root (as CI does). */
export async function assertImageTools(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error('the image tests need root (mmdebstrap, buildah, podman and chroot as root): run them as root, as CI does');
  }
  const missing: string[] = [];
  for (const tool of TOOLS) {
    if ((await exec(['sh', '-c', `command -v ${tool}`])).code !== 0) missing.push(tool);
  }
  if (missing.length > 0) {
    throw new Error(`the image tests need ${missing.join(', ')}: install Debian's packages with 'apt-get install ${DEBIAN_PACKAGES}' (.ci/run does)`);
  }
}

let built: Promise<BuiltImages> | undefined;

/** Both images, built (or found up to date) once per test run. Needs a built dist/ (npm test builds first). */
export function buildImages(): Promise<BuiltImages> {
  built ??= (async () => {
    await assertImageTools();
    const r = await exec([BUILD_SCRIPT], { timeoutMs: 15 * 60_000 });
    if (r.code !== 0) throw new Error(`images/build.sh failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
    const image = async (file: string): Promise<BuiltImage> => {
      const archive = join(IMAGES_DIR, file);
      return { archive, ref: await archiveRef(archive) };
    };
    return { server: await image('meshgate.oci.tar'), init: await image('meshgate-init.oci.tar'), log: r.stderr };
  })();
  return built;
}

interface OciIndex {
  manifests: { digest: string; annotations?: Record<string, string> }[];
}

async function tarFile(archive: string, member: string): Promise<string> {
  const r = await exec(['tar', '-xOf', archive, member]);
  if (r.code !== 0) throw new Error(`${archive}: no ${member} (${r.stderr.trim()})`);
  return r.stdout;
}

/** The one image reference an OCI archive names. */
export async function archiveRef(archive: string): Promise<string> {
  const index = JSON.parse(await tarFile(archive, 'index.json')) as OciIndex;
  const refs = index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']);
  if (refs.length !== 1 || !refs[0]) throw new Error(`${archive}: expected one tagged manifest, found ${JSON.stringify(refs)}`);
  return refs[0];
}

/** An image's root filesystem on disk, and the PATH its config sets. */
export interface UnpackedImage {
  rootfs: string;
  path: string;
}

let unpacked: Promise<UnpackedImage> | undefined;
const cleanups: string[] = [];
process.once('exit', () => {
  for (const dir of cleanups) rmSync(dir, { recursive: true, force: true });
});

/** The init image's root filesystem, its layers unpacked in order from the archive (once per run). */
export function initImageRootfs(): Promise<UnpackedImage> {
  unpacked ??= (async () => {
    const { init } = await buildImages();
    const dir = mkdtempSync(join(tmpdir(), 'mg-init-image-'));
    cleanups.push(dir);
    const oci = join(dir, 'oci');
    const rootfs = join(dir, 'rootfs');
    for (const d of [oci, rootfs]) await must(['mkdir', '-p', d]);
    await must(['tar', '-xf', init.archive, '-C', oci]);
    const blob = (digest: string) => readFileSync(join(oci, 'blobs', ...digest.split(':')), 'utf8');
    const index = JSON.parse(readFileSync(join(oci, 'index.json'), 'utf8')) as OciIndex;
    const manifest = JSON.parse(blob(index.manifests[0]!.digest)) as { config: { digest: string }; layers: { digest: string }[] };
    const config = JSON.parse(blob(manifest.config.digest)) as { config?: { Env?: string[] } };
    // One layer: whiteouts would matter only with several, which the build does not make.
    if (manifest.layers.length !== 1) throw new Error(`${init.archive}: expected one layer, found ${manifest.layers.length}`);
    await must(['tar', '-xpf', join(oci, 'blobs', ...manifest.layers[0]!.digest.split(':')), '-C', rootfs]);
    const path = config.config?.Env?.find((e) => e.startsWith('PATH='))?.slice('PATH='.length);
    if (!path) throw new Error(`${init.archive}: the image config sets no PATH`);
    return { rootfs, path };
  })();
  return unpacked;
}

async function must(argv: string[]): Promise<string> {
  const r = await exec(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: exit ${r.code}\n${r.stderr}`);
  return r.stdout;
}

/** images/podman.sh (runc, cgroupfs, no default ulimits, storage under build/podman). */
export function podman(args: string[], timeoutMs = 120_000): Promise<Exec> {
  return exec([PODMAN, ...args], { timeoutMs });
}

let loaded: Promise<string> | undefined;

/** The server image loaded into images/podman.sh's storage from its archive (once per run); its reference. */
export function loadServerImage(): Promise<string> {
  loaded ??= (async () => {
    const { server } = await buildImages();
    // an earlier run's image of the same tag goes first, so the storage keeps one copy
    await podman(['rmi', '--force', server.ref]);
    const r = await podman(['load', '--quiet', '-i', server.archive], 600_000);
    if (r.code !== 0) throw new Error(`podman load -i ${server.archive}: exit ${r.code}\n${r.stderr}`);
    return server.ref;
  })();
  return loaded;
}
