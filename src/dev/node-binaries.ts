/**
 * Finds or builds the node's binaries: kubelet, kube-scheduler and kube-proxy (hack/kube-bins/node,
 * the same Kubernetes version and staging modules as the control plane), CoreDNS with only the
 * plugins the local cluster uses (hack/coredns) and the pod sandbox's `pause` (hack/kube-bins/pause).
 *
 * Cached like the control plane (kube-binaries.ts): `~/.cache/kvsync/node-bins/<key>`, keyed by the
 * Kubernetes and CoreDNS versions, a hash of the wrapper modules, the Go version and the build flags;
 * built into a temporary folder and renamed into place only after each binary answered.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ControlPlaneError } from './errors.ts';
import { buildIntoCache, buildLogPath, findGo, installGoHint, pathExists, runGo } from './go-toolchain.ts';
import { cacheRoot, pinnedVersions } from './kube-binaries.ts';

const execFileAsync = promisify(execFile);

/** CoreDNS 1.15's go.mod says `go 1.26.0`. */
const NODE_MIN_GO: readonly [number, number] = [1, 26];

export const NODE_BINARY_NAMES = ['kubelet', 'kube-scheduler', 'kube-proxy', 'coredns', 'pause'] as const;
export type NodeBinaryName = (typeof NODE_BINARY_NAMES)[number];

export interface NodeBinaries {
  dir: string;
  paths: Record<NodeBinaryName, string>;
  kubernetesVersion: string;
  corednsVersion: string;
  built: boolean;
}

const hackRoot = fileURLToPath(new URL('../../hack/', import.meta.url));
const wrapperDirs = ['kube-bins/node', 'coredns', 'kube-bins/pause'] as const;

/** Bump when the build commands below change, so old caches are not reused. */
const BUILD_FLAGS_VERSION = 'node-flags-1';

/** The CoreDNS version pinned in hack/coredns/go.mod. */
export async function pinnedCorednsVersion(): Promise<string> {
  const gomod = await readFile(join(hackRoot, 'coredns', 'go.mod'), 'utf8');
  const v = /github\.com\/coredns\/coredns (v\d\S*)/.exec(gomod)?.[1];
  if (v === undefined) throw new ControlPlaneError('BuildFailed', `cannot read the pinned CoreDNS version from ${hackRoot}coredns/go.mod`);
  return v;
}

/** Returns usable node binaries, building them first when the cache has none for this key. */
export async function ensureNodeBinaries(log: (line: string) => void = () => {}): Promise<NodeBinaries> {
  const kubernetesVersion = (await pinnedVersions()).kubernetes;
  const corednsVersion = await pinnedCorednsVersion();
  const go = await findGo(NODE_MIN_GO);
  if ('problem' in go) throw new ControlPlaneError(go.problem, `${go.message}. The node's kubelet and CoreDNS are built from Go modules. ${installGoHint(NODE_MIN_GO)}`, { cause: go.cause });
  const hash = createHash('sha256').update(go.version).update(BUILD_FLAGS_VERSION);
  for (const dir of wrapperDirs) {
    for (const file of ['go.mod', 'go.sum', 'main.go']) {
      const path = join(hackRoot, dir, file);
      if (await pathExists(path)) hash.update(`${dir}/${file}\0`).update(await readFile(path));
    }
  }
  const dir = join(cacheRoot(), 'node-bins', `k8s-${kubernetesVersion}-coredns-${corednsVersion}-${hash.digest('hex').slice(0, 12)}`);
  const paths = Object.fromEntries(NODE_BINARY_NAMES.map((n) => [n, join(dir, n)])) as Record<NodeBinaryName, string>;
  if (await pathExists(join(dir, 'manifest.json'))) return { dir, paths, kubernetesVersion, corednsVersion, built: false };
  await build(dir, kubernetesVersion, corednsVersion, log);
  return { dir, paths, kubernetesVersion, corednsVersion, built: true };
}

async function build(dir: string, kubernetesVersion: string, corednsVersion: string, log: (line: string) => void): Promise<void> {
  const [major, minor] = kubernetesVersion.replace(/^v/, '').split('.');
  const kubeLdflags = [
    '-s -w',
    `-X k8s.io/component-base/version.gitVersion=${kubernetesVersion}`,
    `-X k8s.io/component-base/version.gitMajor=${major}`,
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
  ].join(' ');
  const steps = (tmp: string): { what: string; cwd: string; args: string[] }[] => [
    {
      what: `kubelet, kube-scheduler and kube-proxy ${kubernetesVersion}`,
      cwd: join(hackRoot, 'kube-bins/node'),
      args: ['build', '-trimpath', '-pgo=off', '-ldflags', kubeLdflags, '-o', `${tmp}/`,
        'k8s.io/kubernetes/cmd/kubelet', 'k8s.io/kubernetes/cmd/kube-scheduler', 'k8s.io/kubernetes/cmd/kube-proxy'],
    },
    { what: `CoreDNS ${corednsVersion}`, cwd: join(hackRoot, 'coredns'), args: ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(tmp, 'coredns'), '.'] },
    { what: 'pause', cwd: join(hackRoot, 'kube-bins/pause'), args: ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(tmp, 'pause'), '.'] },
  ];
  const logPath = buildLogPath(dir);
  try {
    await buildIntoCache(dir, { kubernetesVersion, corednsVersion }, async (tmp, logFile) => {
      for (const step of steps(tmp)) {
        log(`building ${step.what} from Go modules (first run only; cached in ${dir}; log ${logPath}) ...`);
        const started = Date.now();
        await runGo(step.args, step.cwd, logFile);
        log(`built ${step.what} in ${Math.round((Date.now() - started) / 1000)} s`);
      }
      for (const name of ['kubelet', 'kube-scheduler', 'kube-proxy'] as const) await execFileAsync(join(tmp, name), ['--version'], { timeout: 30_000 });
      await execFileAsync(join(tmp, 'coredns'), ['-version'], { timeout: 30_000 });
    });
  } catch (err) {
    throw new ControlPlaneError(
      'BuildFailed',
      `building the node's binaries failed: ${err instanceof Error ? err.message : String(err)}; see ${logPath}. ` +
        'Check that the Go module proxy is reachable (GOPROXY) and that there is disk space for the module and build cache.',
      { cause: err },
    );
  }
}
