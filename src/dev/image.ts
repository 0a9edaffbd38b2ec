/**
 * `kvsync dev image`: builds the repository's Dockerfile with a container engine (a private dockerd,
 * docker.ts) from locally made base images passed as build arguments (base-images.ts), saves the image
 * as an archive and loads it into the local node's containerd (node.ts), so pods on `kvsync dev
 * cluster` run exactly what users pull.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBaseImages } from './base-images.ts';
import { startDocker } from './docker.ts';
import { ControlPlaneError } from './errors.ts';
import { IMAGE_REQUIREMENTS, requireHost } from './host-prerequisites.ts';
import { cacheRoot, ensureKubeBinaries } from './kube-binaries.ts';
import { importIntoRunningNode } from './node.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const IMAGE_REPOSITORY = 'kvsync.local/kvsync';

export interface BuiltImage {
  /** `kvsync.local/kvsync:dev-<image id prefix>` */
  ref: string;
  repository: string;
  tag: string;
  /** `docker save` archive of the image. */
  archive: string;
  /** Whether it was loaded into a running local node. */
  loaded: boolean;
}

export interface BuildImageOptions {
  log?: (line: string) => void;
  /** Fail when no local node runs (default: build and save only). */
  requireNode?: boolean;
}

/**
 * Builds the image and loads it into the running node.
 * @throws ControlPlaneError HostPrerequisiteMissing, ImageBuildFailed (with the build log's path)
 */
export async function buildImage(opts: BuildImageOptions = {}): Promise<BuiltImage> {
  const log = opts.log ?? (() => {});
  const programs = await requireHost('kvsync dev image', IMAGE_REQUIREMENTS);
  const leash = (await ensureKubeBinaries(log)).paths.leash;
  const docker = await startDocker({ dockerd: programs.dockerd ?? 'dockerd', docker: programs['/usr/bin/docker'] ?? 'docker' }, leash, log);
  const imagesDir = join(cacheRoot(), 'images');
  await mkdir(imagesDir, { recursive: true });
  const logPath = join(imagesDir, 'build.log');
  const logFile = createWriteStream(logPath);
  try {
    const bases = await ensureBaseImages(docker, log);
    log(`building the Dockerfile (classic builder, no network; log ${logPath}) ...`);
    const started = Date.now();
    const buildRef = `${IMAGE_REPOSITORY}:build`;
    try {
      await docker.docker(['build', '--network', 'none', '--build-arg', `BUILD_IMAGE=${bases.build}`, '--build-arg', `RUNTIME_IMAGE=${bases.runtime}`, '--tag', buildRef, repoRoot], { timeoutMs: 1_800_000, logFile });
    } catch (err) {
      throw new ControlPlaneError('ImageBuildFailed', `docker build failed: ${err instanceof Error ? err.message : String(err)}; full log ${logPath}`, { cause: err });
    }
    const id = (await docker.docker(['image', 'inspect', '--format', '{{.Id}}', buildRef])).trim();
    const tag = `dev-${id.replace(/^sha256:/, '').slice(0, 12)}`;
    const ref = `${IMAGE_REPOSITORY}:${tag}`;
    await docker.docker(['tag', buildRef, ref]);
    log(`built ${ref} in ${Math.round((Date.now() - started) / 1000)} s`);
    for (const old of await readdir(imagesDir)) if (old.startsWith('kvsync-') && old.endsWith('.tar')) await rm(join(imagesDir, old), { force: true });
    const archive = join(imagesDir, `kvsync-${tag}.tar`);
    await docker.docker(['save', '--output', archive, ref]);
    const loaded = await importIntoRunningNode(archive);
    if (!loaded && opts.requireNode === true) {
      throw new ControlPlaneError('ImageBuildFailed', `built ${ref}, but no local node is running to load it into; start one with \`kvsync dev cluster --kubeconfig FILE\``);
    }
    if (loaded) log(`loaded ${ref} into the local node's containerd`);
    return { ref, repository: IMAGE_REPOSITORY, tag, archive, loaded };
  } finally {
    logFile.end();
    await docker.stop();
  }
}
