/**
 * helm, built from its Go module the way the control plane is (src/dev/kube-binaries.ts): the wrapper
 * module hack/helm pins helm.sh/helm/v4 with a `tool` line and a committed go.sum; `ensureHelm()`
 * builds it into `~/.cache/kvsync/helm/<version>-<hash>/helm`, keyed by the helm version, a hash of
 * go.mod/go.sum, the Go version and the build flags. A build goes to a temporary folder and is renamed
 * into place only after `helm version` answered, so a failed build never looks like a good one.
 *
 * `KVSYNC_HELM_BIN` points at a prebuilt helm instead (no Go needed).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildIntoCache, buildLogPath, findGo, installGoHint, pathExists, runGo } from './go-toolchain.ts';
import { cacheRoot } from './kube-binaries.ts';
import { KvsyncError } from '../util/errors.ts';

const execFileAsync = promisify(execFile);

/** helm 4.3's go.mod says `go 1.26.0`. */
export const HELM_MIN_GO: readonly [number, number] = [1, 26];

const wrapperDir = fileURLToPath(new URL('../../hack/helm/', import.meta.url));

/** Bump when the build command below changes, so old caches are not reused. */
const BUILD_FLAGS_VERSION = 'helm-flags-1';

export type HelmFailure = 'GoMissing' | 'GoTooOld' | 'BuildFailed' | 'BinaryMissing' | 'HelmFailed';

/** Why helm could not be built or a helm command failed; the message names the cause and the fix. */
export class HelmError extends KvsyncError<HelmFailure> {
  override readonly name = 'HelmError';
}

export interface HelmBinary {
  path: string;
  /** e.g. `v4.3.1` */
  version: string;
  /** True when this call built it (a cold cache). */
  built: boolean;
}

/** The helm version pinned in hack/helm/go.mod (the single place it is set). */
export async function pinnedHelmVersion(): Promise<string> {
  const gomod = await readFile(join(wrapperDir, 'go.mod'), 'utf8');
  const v = /^\s*(?:require\s+)?helm\.sh\/helm\/v\d+ (v\d\S*)/m.exec(gomod)?.[1];
  if (v === undefined) throw new HelmError('BuildFailed', `cannot read the pinned helm version from ${wrapperDir}go.mod`);
  return v;
}

const installHint =
  `${installGoHint(HELM_MIN_GO)}, or set KVSYNC_HELM_BIN to a prebuilt helm v4 binary.`;

/**
 * A usable helm: `KVSYNC_HELM_BIN`, else the cached build, else built now (about two minutes cold).
 * @throws HelmError GoMissing / GoTooOld (with what to install), BinaryMissing, BuildFailed (with the log path)
 */
export async function ensureHelm(log: (line: string) => void = () => {}): Promise<HelmBinary> {
  const version = await pinnedHelmVersion();
  const prebuilt = process.env.KVSYNC_HELM_BIN;
  if (prebuilt) {
    if (!(await pathExists(prebuilt))) throw new HelmError('BinaryMissing', `KVSYNC_HELM_BIN=${prebuilt} does not exist (unset it to build helm ${version} with Go)`);
    return { path: prebuilt, version, built: false };
  }
  const go = await findGo(HELM_MIN_GO);
  if ('problem' in go) throw new HelmError(go.problem, `${go.message}. helm ${version} is built from its Go module. ${installHint}`, { cause: go.cause });
  const dir = join(cacheRoot(), 'helm', await cacheKey(go.version, version));
  const path = join(dir, 'helm');
  if (await pathExists(join(dir, 'manifest.json'))) return { path, version, built: false };
  await build(dir, version, log);
  return { path, version, built: true };
}

async function cacheKey(goVersion: string, helmVersion: string): Promise<string> {
  const hash = createHash('sha256').update(goVersion).update(BUILD_FLAGS_VERSION);
  for (const file of ['go.mod', 'go.sum']) hash.update(`${file}\0`).update(await readFile(join(wrapperDir, file)));
  return `helm-${helmVersion}-${hash.digest('hex').slice(0, 12)}`;
}

async function build(dir: string, version: string, log: (line: string) => void): Promise<void> {
  const logPath = buildLogPath(dir);
  // helm's own Makefile sets the version the same way; without it `helm version` says "v4.3".
  const ldflags = `-s -w -X helm.sh/helm/v4/internal/version.version=${version}`;
  try {
    await buildIntoCache(dir, { version }, async (tmp, logFile) => {
      log(`building helm ${version} from its Go module (first run only; cached in ${dir}; log ${logPath}) ...`);
      const started = Date.now();
      await runGo(['build', '-trimpath', '-ldflags', ldflags, '-o', join(tmp, 'helm'), 'helm.sh/helm/v4/cmd/helm'], wrapperDir, logFile);
      log(`built helm ${version} in ${Math.round((Date.now() - started) / 1000)} s`);
      await execFileAsync(join(tmp, 'helm'), ['version', '--short'], { timeout: 30_000 });
    });
  } catch (err) {
    throw new HelmError(
      'BuildFailed',
      `building helm ${version} failed: ${err instanceof Error ? err.message : String(err)}; see ${logPath}. ` +
        'Check that the Go module proxy is reachable (GOPROXY) and that there is disk space for ~1 GB of module and build cache.',
      { cause: err },
    );
  }
}

/**
 * Runs `helm ARGS` and returns its stdout.
 * @throws HelmError HelmFailed with helm's stderr (chart errors, lint findings; never values)
 */
export async function runHelm(helm: HelmBinary, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync(helm.path, args, { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20, env: { ...process.env, HELM_CACHE_HOME: join(cacheRoot(), 'helm-home', 'cache'), HELM_CONFIG_HOME: join(cacheRoot(), 'helm-home', 'config'), HELM_DATA_HOME: join(cacheRoot(), 'helm-home', 'data') } });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number | string };
    const detail = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim().split('\n').slice(-20).join('\n');
    throw new HelmError('HelmFailed', `helm ${args[0] ?? ''} exited with ${String(e.code ?? 'an error')}:\n${detail}`, { cause: err });
  }
}

/**
 * A `helm` (v3 or v4) already on PATH, for `kvsync dev --kubeconfig` on a machine without Go; undefined
 * when there is none.
 */
export async function findHelmOnPath(): Promise<HelmBinary | undefined> {
  try {
    const { stdout } = await execFileAsync('helm', ['version', '--short'], { timeout: 30_000 });
    const version = /v\d+\.\d+\.\d+/.exec(stdout)?.[0];
    return version === undefined || !/^v[34]\./.test(version) ? undefined : { path: 'helm', version, built: false };
  } catch {
    return undefined;
  }
}
