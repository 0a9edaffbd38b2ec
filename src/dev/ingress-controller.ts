/**
 * The local node's ingress controller: Traefik, built from its Go module like the node's other
 * binaries (hack/traefik pins it with a `tool` line and a committed go.sum) and packed as a one-layer
 * image holding only the static binary (oci-archive.ts), so an Ingress on `kvsync dev cluster` is
 * served by the controller many clusters run (k3s installs it by default).
 *
 * Cached in `~/.cache/kvsync/ingress/traefik-<version>-<hash>/image.tar` (the image archive alone: it
 * holds the binary), keyed by the Traefik version, a hash of the wrapper module, the Go version and the build
 * flags; built into a temporary folder and renamed into place only after `traefik version` answered.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ControlPlaneError } from './errors.ts';
import { buildIntoCache, buildLogPath, findGo, installGoHint, pathExists, runGo } from './go-toolchain.ts';
import { cacheRoot } from './kube-binaries.ts';
import { importIntoRunningNode } from './node.ts';
import { writeOciArchive } from './oci-archive.ts';

const execFileAsync = promisify(execFile);

/** Traefik 3.6's go.mod says `go 1.25.0`; the wrapper module says 1.26 like the node's others. */
const TRAEFIK_MIN_GO: readonly [number, number] = [1, 26];

const wrapperDir = fileURLToPath(new URL('../../hack/traefik/', import.meta.url));

/** Bump when the build command or the image layout below changes, so old caches are not reused. */
const BUILD_FLAGS_VERSION = 'traefik-flags-2';

export const INGRESS_IMAGE_REPOSITORY = 'kvsync.local/traefik';

/** The user the image runs as (distroless's `nonroot`, like kvsync's image). */
export const INGRESS_IMAGE_USER = 65532;

export interface IngressController {
  /** e.g. `v3.6.12` */
  version: string;
  /** `kvsync.local/traefik:<version>` */
  image: string;
  /** OCI image layout archive of {@link image}. */
  archive: string;
  /** True when this call built it (a cold cache). */
  built: boolean;
}

/** The Traefik version pinned in hack/traefik/go.mod (the single place it is set). */
export async function pinnedTraefikVersion(): Promise<string> {
  const gomod = await readFile(join(wrapperDir, 'go.mod'), 'utf8');
  const v = /^\s*(?:require\s+)?github\.com\/traefik\/traefik\/v3 (v\d\S*)/m.exec(gomod)?.[1];
  if (v === undefined) throw new ControlPlaneError('BuildFailed', `cannot read the pinned Traefik version from ${wrapperDir}go.mod`);
  return v;
}

/**
 * Finds or builds Traefik and its image.
 * @throws ControlPlaneError GoMissing / GoTooOld (with what to install), BuildFailed (with the log path)
 */
export async function ensureIngressController(log: (line: string) => void = () => {}): Promise<IngressController> {
  const version = await pinnedTraefikVersion();
  const go = await findGo(TRAEFIK_MIN_GO);
  if ('problem' in go) throw new ControlPlaneError(go.problem, `${go.message}. The local ingress controller (Traefik ${version}) is built from its Go module. ${installGoHint(TRAEFIK_MIN_GO)}`, { cause: go.cause });
  const hash = createHash('sha256').update(go.version).update(BUILD_FLAGS_VERSION);
  for (const file of ['go.mod', 'go.sum']) hash.update(`${file}\0`).update(await readFile(join(wrapperDir, file)));
  const dir = join(cacheRoot(), 'ingress', `traefik-${version}-${hash.digest('hex').slice(0, 12)}`);
  const found: IngressController = { version, image: `${INGRESS_IMAGE_REPOSITORY}:${version}`, archive: join(dir, 'image.tar'), built: false };
  if (await pathExists(join(dir, 'manifest.json'))) return found;
  await build(dir, version, found.image, log);
  return { ...found, built: true };
}

/**
 * {@link ensureIngressController}, then loads its image into the node running on this machine.
 * @throws ControlPlaneError as {@link ensureIngressController}; ImageBuildFailed when no node runs
 */
export async function loadIngressController(log: (line: string) => void = () => {}): Promise<IngressController> {
  const controller = await ensureIngressController(log);
  const started = Date.now();
  if (!(await importIntoRunningNode(controller.archive))) {
    throw new ControlPlaneError('ImageBuildFailed', `made ${controller.image}, but no local node is running to load it into; start one with \`kvsync dev cluster --kubeconfig FILE\``);
  }
  log(`loaded ${controller.image} into the local node's containerd in ${Math.round((Date.now() - started) / 1000)} s`);
  return controller;
}

async function build(dir: string, version: string, image: string, log: (line: string) => void): Promise<void> {
  const logPath = buildLogPath(dir);
  // Traefik's own release build sets the version the same way; without it `traefik version` says "dev".
  const ldflags = `-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=${version}`;
  try {
    await buildIntoCache(dir, { version, image }, async (tmp, logFile) => {
      log(`building Traefik ${version} from its Go module (first run only; cached in ${dir}; log ${logPath}) ...`);
      const started = Date.now();
      const root = join(tmp, 'root');
      await mkdir(root);
      await runGo(['build', '-trimpath', '-ldflags', ldflags, '-o', join(root, 'traefik'), 'github.com/traefik/traefik/v3/cmd/traefik'], wrapperDir, logFile);
      log(`built Traefik ${version} in ${Math.round((Date.now() - started) / 1000)} s`);
      await execFileAsync(join(root, 'traefik'), ['version'], { timeout: 30_000 });
      // The binary is static (CGO_ENABLED=0): the image needs nothing else.
      await writeOciArchive(root, image, { Entrypoint: ['/traefik'], User: `${INGRESS_IMAGE_USER}:${INGRESS_IMAGE_USER}` }, join(tmp, 'image.tar'));
      await rm(root, { recursive: true });
    });
  } catch (err) {
    throw new ControlPlaneError(
      'BuildFailed',
      `building the ingress controller (Traefik ${version}) failed: ${err instanceof Error ? err.message : String(err)}; see ${logPath}. ` +
        'Check that the Go module proxy is reachable (GOPROXY) and that there is disk space for ~2 GB of module and build cache.',
      { cause: err },
    );
  }
}
