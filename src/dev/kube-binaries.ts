/**
 * Finds or builds the control-plane binaries (kube-apiserver, kube-controller-manager, kubectl, etcd)
 * and `leash`, from the wrapper Go modules committed under hack/kube-bins/.
 *
 * Builds go into a cache outside git, keyed by the Kubernetes and etcd versions plus a hash of the
 * wrapper modules and the Go version, so a changed go.mod/go.sum or toolchain never reuses stale
 * binaries. A build is written to a temporary folder and renamed into place only after every binary
 * answered `--version`: a failed or interrupted build leaves nothing that looks like a good one.
 *
 * `KVSYNC_KUBE_BIN_DIR` points at a folder of prebuilt binaries instead (no Go needed).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ControlPlaneError } from './errors.ts';
import { buildIntoCache, buildLogPath, findGo, installGoHint, pathExists, runGo } from './go-toolchain.ts';

const execFileAsync = promisify(execFile);

/** The oldest Go that builds Kubernetes 1.34 (its go.mod says `go 1.24.0`). */
const MIN_GO: readonly [number, number] = [1, 24];

export const BINARY_NAMES = ['kube-apiserver', 'kube-controller-manager', 'kubectl', 'etcd', 'leash'] as const;
export type BinaryName = (typeof BINARY_NAMES)[number];

export interface KubeBinaries {
  dir: string;
  paths: Record<BinaryName, string>;
  kubernetesVersion: string;
  etcdVersion: string;
  /** True when this call built them (a cold cache). */
  built: boolean;
}

const wrapperRoot = fileURLToPath(new URL('../../hack/kube-bins/', import.meta.url));
const modules = ['kubernetes', 'etcd', 'leash'] as const;

/** `KVSYNC_CACHE_DIR`, else `$XDG_CACHE_HOME/kvsync`, else `~/.cache/kvsync`. */
export function cacheRoot(): string {
  const explicit = process.env.KVSYNC_CACHE_DIR;
  if (explicit) return explicit;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kvsync');
}

/** Reads the pinned versions from the wrapper modules' go.mod files (the single place they are set). */
export async function pinnedVersions(): Promise<{ kubernetes: string; etcd: string }> {
  const kube = await readFile(join(wrapperRoot, 'kubernetes', 'go.mod'), 'utf8');
  const etcd = await readFile(join(wrapperRoot, 'etcd', 'go.mod'), 'utf8');
  const k = /^\s*(?:require\s+)?k8s\.io\/kubernetes (v\d\S*)/m.exec(kube)?.[1];
  const e = /go\.etcd\.io\/etcd\/server\/v3 (v\S+)/m.exec(etcd)?.[1];
  if (!k || !e) throw new ControlPlaneError('BuildFailed', `cannot read pinned versions from ${wrapperRoot}*/go.mod`);
  return { kubernetes: k, etcd: e };
}

/** Returns usable binaries, building them first when the cache has none for this key. */
export async function ensureKubeBinaries(log: (line: string) => void = () => {}): Promise<KubeBinaries> {
  const versions = await pinnedVersions();
  const prebuilt = process.env.KVSYNC_KUBE_BIN_DIR;
  if (prebuilt) {
    const paths = pathsIn(prebuilt);
    for (const [name, path] of Object.entries(paths)) {
      if (!(await pathExists(path))) {
        throw new ControlPlaneError(
          'BinaryMissing',
          `KVSYNC_KUBE_BIN_DIR=${prebuilt} has no ${name}; it must hold ${BINARY_NAMES.join(', ')} (or unset it to build them with Go)`,
        );
      }
    }
    return { dir: prebuilt, paths, kubernetesVersion: versions.kubernetes, etcdVersion: versions.etcd, built: false };
  }

  const goVersion = await requireGo();
  const key = await cacheKey(goVersion, versions);
  const dir = join(cacheRoot(), 'kube-bins', key);
  const paths = pathsIn(dir);
  if (await pathExists(join(dir, 'manifest.json'))) {
    return { dir, paths, kubernetesVersion: versions.kubernetes, etcdVersion: versions.etcd, built: false };
  }
  await build(dir, versions, log);
  return { dir, paths, kubernetesVersion: versions.kubernetes, etcdVersion: versions.etcd, built: true };
}

function pathsIn(dir: string): Record<BinaryName, string> {
  return Object.fromEntries(BINARY_NAMES.map((n) => [n, join(dir, n)])) as Record<BinaryName, string>;
}

const installGo =
  `${installGoHint(MIN_GO)}, ` +
  'or set KVSYNC_KUBE_BIN_DIR to a folder holding prebuilt kube-apiserver, kube-controller-manager, kubectl, etcd and leash.';

async function requireGo(): Promise<string> {
  const go = await findGo(MIN_GO);
  if ('problem' in go) throw new ControlPlaneError(go.problem, `${go.message}. ${installGo}`, { cause: go.cause });
  return go.version;
}

async function cacheKey(goVersion: string, versions: { kubernetes: string; etcd: string }): Promise<string> {
  const hash = createHash('sha256').update(goVersion).update(BUILD_FLAGS_VERSION);
  for (const mod of modules) {
    for (const file of ['go.mod', 'go.sum', 'main.go']) {
      const path = join(wrapperRoot, mod, file);
      if (await pathExists(path)) hash.update(`${mod}/${file}\0`).update(await readFile(path));
    }
  }
  return `k8s-${versions.kubernetes}-etcd-${versions.etcd}-${hash.digest('hex').slice(0, 12)}`;
}

/** How each binary proves it runs before the build is accepted into the cache. */
const VERSION_ARGS: Record<Exclude<BinaryName, 'leash'>, string[]> = {
  'kube-apiserver': ['--version'],
  'kube-controller-manager': ['--version'],
  kubectl: ['version', '--client'],
  etcd: ['--version'],
};

/** Bump when the build commands below change, so old caches are not reused. */
const BUILD_FLAGS_VERSION = 'flags-1';

async function build(dir: string, versions: { kubernetes: string; etcd: string }, log: (line: string) => void): Promise<void> {
  const logPath = buildLogPath(dir);
  const [major, minor] = versions.kubernetes.replace(/^v/, '').split('.');
  const kubeLdflags = [
    '-s -w',
    `-X k8s.io/component-base/version.gitVersion=${versions.kubernetes}`,
    `-X k8s.io/component-base/version.gitMajor=${major}`,
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
    `-X k8s.io/client-go/pkg/version.gitVersion=${versions.kubernetes}`,
  ].join(' ');
  const steps = (tmp: string): { cwd: string; args: string[]; what: string }[] => [
    {
      what: `kube-apiserver, kube-controller-manager and kubectl ${versions.kubernetes}`,
      cwd: join(wrapperRoot, 'kubernetes'),
      args: ['build', '-trimpath', '-pgo=off', '-ldflags', kubeLdflags, '-o', `${tmp}/`,
        'k8s.io/kubernetes/cmd/kube-apiserver', 'k8s.io/kubernetes/cmd/kube-controller-manager', 'k8s.io/kubernetes/cmd/kubectl'],
    },
    { what: `etcd ${versions.etcd}`, cwd: join(wrapperRoot, 'etcd'), args: ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(tmp, 'etcd'), '.'] },
    { what: 'leash', cwd: join(wrapperRoot, 'leash'), args: ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(tmp, 'leash'), '.'] },
  ];
  try {
    await buildIntoCache(dir, versions, async (tmp, logFile) => {
      for (const step of steps(tmp)) {
        log(`building ${step.what} from Go modules (first run only; cached in ${dir}; log ${logPath}) ...`);
        const started = Date.now();
        await runGo(step.args, step.cwd, logFile);
        log(`built ${step.what} in ${Math.round((Date.now() - started) / 1000)} s`);
      }
      for (const [name, args] of Object.entries(VERSION_ARGS)) {
        await execFileAsync(join(tmp, name), args, { timeout: 30_000 });
      }
    });
  } catch (err) {
    if (err instanceof ControlPlaneError) throw err;
    throw new ControlPlaneError(
      'BuildFailed',
      `building the control plane failed: ${err instanceof Error ? err.message : String(err)}; see ${logPath}. ` +
        'Check that the Go module proxy is reachable (GOPROXY) and that there is disk space for ~2 GB of module and build cache.',
      { cause: err },
    );
  }
}
