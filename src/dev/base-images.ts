/**
 * Local stand-ins for the Dockerfile's two public base images, made on this machine because no image
 * registry is reachable:
 *
 * - build (for `node:24-bookworm`): Debian bookworm from debootstrap (minbase, plus ca-certificates and
 *   tzdata), the project's pinned Node 24 (the npm `node` package in node_modules) and the host's npm,
 *   with an npm cache holding every package of package-lock.json and `npm_config_offline=true`, so the
 *   Dockerfile's `npm ci` installs without a network.
 * - runtime (for `gcr.io/distroless/nodejs24-debian12:nonroot`): only what distroless holds — Node at
 *   /nodejs/bin/node, the shared libraries it links, CA certificates, time zones, /etc/passwd and
 *   /etc/group with `nonroot` (65532), a home and /tmp — and no shell or package manager.
 *
 * The debootstrap root filesystem is cached in ~/.cache/kvsync/base, keyed by suite, mirror and
 * packages; the images live in the kvsync dockerd's store, tagged by a hash of what went into them.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, copyFile, cp, mkdir, mkdtemp, readFile, readdir, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ControlPlaneError } from './errors.ts';
import { buildIntoCache, pathExists } from './go-toolchain.ts';
import { findProgram } from './host-prerequisites.ts';
import { cacheRoot } from './kube-binaries.ts';
import type { RunningDocker } from './docker.ts';

const execFileAsync = promisify(execFile);

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const SUITE = 'bookworm';
const INCLUDE = ['ca-certificates', 'tzdata'];
/** Bump when the way the images are made changes, so old ones are not reused. */
const RECIPE_VERSION = 'bases-1';
const NONROOT = 65532;

export interface BaseImages {
  /** Stands for `node:24-bookworm`. */
  build: string;
  /** Stands for `gcr.io/distroless/nodejs24-debian12:nonroot`. */
  runtime: string;
}

/** The Debian mirror apt uses on this machine (debootstrap fetches the same packages apt would). */
export async function debianMirror(): Promise<string> {
  const texts: string[] = [];
  for (const dir of ['/etc/apt/sources.list.d']) {
    for (const f of await readdir(dir).catch(() => [])) texts.push(await readFile(join(dir, f), 'utf8').catch(() => ''));
  }
  texts.push(await readFile('/etc/apt/sources.list', 'utf8').catch(() => ''));
  for (const text of texts) {
    const deb822 = /^URIs:\s*(\S+\/debian)\/?\s*$/m.exec(text)?.[1];
    if (deb822 !== undefined) return deb822;
    const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s+\S+/m.exec(text)?.[1];
    if (oneLine !== undefined) return oneLine;
  }
  return 'http://deb.debian.org/debian';
}

/** The Debian root filesystem (debootstrap minbase), built once per key. */
async function ensureRootfs(log: (line: string) => void): Promise<string> {
  const mirror = await debianMirror();
  const key = createHash('sha256').update([SUITE, mirror, ...INCLUDE, RECIPE_VERSION].join('\0')).digest('hex').slice(0, 12);
  const dir = join(cacheRoot(), 'base', `debian-${SUITE}-minbase-${key}`);
  if (await pathExists(join(dir, 'manifest.json'))) return join(dir, 'rootfs');
  log(`making a Debian ${SUITE} root filesystem with debootstrap from ${mirror} (first run only; cached in ${dir}) ...`);
  const started = Date.now();
  await buildIntoCache(dir, { suite: SUITE, mirror, include: INCLUDE }, async (tmp, logFile) => {
    const { stdout, stderr } = await execFileAsync('debootstrap', ['--variant=minbase', `--include=${INCLUDE.join(',')}`, SUITE, join(tmp, 'rootfs'), mirror], { maxBuffer: 64 << 20, timeout: 900_000 });
    logFile.write(stdout + stderr);
    // apt's downloaded packages are not part of an image.
    await rm(join(tmp, 'rootfs', 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
  });
  log(`made the root filesystem in ${Math.round((Date.now() - started) / 1000)} s`);
  return join(dir, 'rootfs');
}

/** The project's Node 24 binary (the npm `node` package) and its version. */
async function projectNode(): Promise<{ path: string; version: string }> {
  const path = join(repoRoot, 'node_modules', 'node', 'bin', 'node');
  if (!(await pathExists(path))) throw new ControlPlaneError('ImageBuildFailed', `${path} is missing; run npm ci first (the images use the project's Node 24)`);
  const { stdout } = await execFileAsync(path, ['--version']);
  return { path, version: stdout.trim() };
}

/** The host's npm (its package folder and version); pure JavaScript, it runs on Node 24. */
async function hostNpm(): Promise<{ dir: string; version: string }> {
  // `npm` on PATH is a link to <npm package>/bin/npm-cli.js.
  const cli = await findProgram('npm');
  if (cli === undefined) throw new ControlPlaneError('HostPrerequisiteMissing', 'the build base image takes npm from this machine, and there is no `npm` on PATH: apt-get install -y npm');
  const dir = dirname(dirname(await realpath(cli)));
  const { version } = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version: string };
  return { dir, version };
}

async function npmCacheDir(): Promise<string> {
  const { stdout } = await execFileAsync('npm', ['config', 'get', 'cache']);
  return join(stdout.trim(), '_cacache');
}

async function imageExists(docker: RunningDocker, ref: string): Promise<boolean> {
  try {
    await docker.docker(['image', 'inspect', '--format', '{{.Id}}', ref], { timeoutMs: 30_000 });
    return true;
  } catch {
    return false;
  }
}

/** `docker import` of a folder, with image settings as Dockerfile instructions (`ENV …`, `USER …`). */
async function importFolder(docker: RunningDocker, dir: string, ref: string, changes: string[], work: string): Promise<void> {
  const archive = join(work, 'rootfs.tar');
  await execFileAsync('tar', ['-C', dir, '--numeric-owner', '-cf', archive, '.'], { maxBuffer: 16 << 20 });
  await docker.docker(['import', ...changes.flatMap((c) => ['--change', c]), archive, ref], { timeoutMs: 600_000 });
  await rm(archive, { force: true });
}

/** Makes both base images in `docker` unless it already has them; returns their references. */
export async function ensureBaseImages(docker: RunningDocker, log: (line: string) => void): Promise<BaseImages> {
  const node = await projectNode();
  const npm = await hostNpm();
  const lock = await readFile(join(repoRoot, 'package-lock.json'));
  const rootfs = await ensureRootfs(log);
  const hash = (...parts: (string | Buffer)[]): string => {
    const h = createHash('sha256').update(RECIPE_VERSION).update(rootfs);
    for (const p of parts) h.update(p).update('\0');
    return h.digest('hex').slice(0, 12);
  };
  const nodeMajor = node.version.replace(/^v/, '').split('.')[0] ?? '24';
  const images: BaseImages = {
    build: `kvsync.local/node:${nodeMajor}-bookworm-${hash(node.version, npm.version, lock)}`,
    runtime: `kvsync.local/distroless-nodejs${nodeMajor}-debian12:nonroot-${hash(node.version)}`,
  };
  const work = await mkdtemp(join(tmpdir(), 'kvsync-bases-'));
  try {
    if (!(await imageExists(docker, images.build))) {
      log(`making the build base ${images.build} (Debian ${SUITE}, Node ${node.version}, npm ${npm.version}, the lockfile's packages in its npm cache)`);
      const dir = join(work, 'build');
      // cp -a: the root filesystem has device nodes, which fs.cp cannot copy.
      await execFileAsync('cp', ['-a', rootfs, dir]);
      await mkdir(join(dir, 'usr/local/bin'), { recursive: true });
      await copyFile(node.path, join(dir, 'usr/local/bin/node'));
      await cp(npm.dir, join(dir, 'usr/local/lib/node_modules/npm'), { recursive: true, verbatimSymlinks: true });
      await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(dir, 'usr/local/bin/npm'));
      await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(dir, 'usr/local/bin/npx'));
      await cp(await npmCacheDir(), join(dir, 'root/.npm/_cacache'), { recursive: true });
      await importFolder(docker, dir, images.build, [
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        // Every package comes from the cache above: the build reaches no registry.
        'ENV npm_config_offline=true',
        'ENV npm_config_update_notifier=false',
        'CMD ["node"]',
      ], work);
      await rm(dir, { recursive: true, force: true });
    }
    if (!(await imageExists(docker, images.runtime))) {
      log(`making the runtime base ${images.runtime} (distroless-like: Node ${node.version}, its libraries, CA certificates, nonroot; no shell)`);
      const dir = join(work, 'runtime');
      await makeDistrolessTree(rootfs, node.path, dir);
      await importFolder(docker, dir, images.runtime, [
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
        `USER ${NONROOT}`,
        'WORKDIR /home/nonroot',
        'ENTRYPOINT ["/nodejs/bin/node"]',
      ], work);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return images;
}

/** The runtime image's files: Node, the libraries `ldd` names (taken from the Debian root), certificates, users. */
async function makeDistrolessTree(rootfs: string, nodeBinary: string, dir: string): Promise<void> {
  await mkdir(join(dir, 'nodejs/bin'), { recursive: true });
  await copyFile(nodeBinary, join(dir, 'nodejs/bin/node'));
  await chmod(join(dir, 'nodejs/bin/node'), 0o755);
  const { stdout } = await execFileAsync('ldd', [nodeBinary]);
  const libs = [...stdout.matchAll(/(\/\S+\.so[.\d]*)/g)].map((m) => m[1]).filter((p): p is string => p !== undefined);
  if (libs.length === 0) throw new ControlPlaneError('ImageBuildFailed', `ldd found no libraries for ${nodeBinary}`);
  for (const lib of new Set(libs)) {
    // Paths as the loader asks for them; the file comes from the Debian root (same release as the host).
    const from = join(rootfs, lib);
    if (!(await pathExists(from))) throw new ControlPlaneError('ImageBuildFailed', `${lib}, which Node links, is not in the Debian ${SUITE} root filesystem`);
    await mkdir(join(dir, dirname(lib)), { recursive: true });
    await copyFile(from, join(dir, lib));
  }
  for (const path of ['etc/ssl/certs/ca-certificates.crt', 'etc/os-release', 'usr/share/zoneinfo']) {
    await mkdir(join(dir, dirname(path)), { recursive: true });
    await cp(join(rootfs, path), join(dir, path), { recursive: true, dereference: true });
  }
  await writeFile(join(dir, 'etc/passwd'), `root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n`);
  await writeFile(join(dir, 'etc/group'), `root:x:0:\nnobody:x:65534:\nnonroot:x:${NONROOT}:\n`);
  await writeFile(join(dir, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  await mkdir(join(dir, 'home/nonroot'), { recursive: true });
  await chown(join(dir, 'home/nonroot'), NONROOT, NONROOT);
  await chmod(join(dir, 'home/nonroot'), 0o700);
  await mkdir(join(dir, 'tmp'));
  await chmod(join(dir, 'tmp'), 0o1777);
  await mkdir(join(dir, 'root'), { mode: 0o700 });
}
