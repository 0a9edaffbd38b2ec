/**
 * External Secrets Operator, built from its Go module for the benchmark's side-by-side runs, the way helm
 * and the control plane are built (src/dev/helm.ts): the wrapper module hack/eso pins
 * github.com/external-secrets/external-secrets with a `tool` line and a committed go.sum; `ensureEso()`
 * builds the controller into `~/.cache/kvsync/eso/<version>-<hash>/external-secrets` beside the module's
 * own `deploy/crds/bundle.yaml`, keyed by the ESO version, a hash of go.mod/go.sum, the Go version and the
 * build flags. Only the benchmark needs it, so it is built on the first `npm run bench` (a few minutes).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildIntoCache, buildLogPath, findGo, goEnv, installGoHint, pathExists, runGo } from '../../src/dev/go-toolchain.ts';
import { cacheRoot } from '../../src/dev/kube-binaries.ts';

const execFileAsync = promisify(execFile);

const MODULE = 'github.com/external-secrets/external-secrets';
/** ESO 0.16's go.mod says `go 1.24`. */
const ESO_MIN_GO: readonly [number, number] = [1, 24];
const wrapperDir = fileURLToPath(new URL('../../hack/eso/', import.meta.url));
/** Bump when the build command below changes, so old caches are not reused. */
const BUILD_FLAGS_VERSION = 'eso-flags-1';

export interface EsoBinary {
  /** The controller binary. */
  path: string;
  /** The module's deploy/crds/bundle.yaml, copied beside the binary. */
  crdsPath: string;
  /** e.g. `v0.16.2` */
  version: string;
}

/** The ESO version pinned in hack/eso/go.mod (the single place it is set). */
export function pinnedVersion(gomod: string): string | undefined {
  return new RegExp(`^\\s*(?:require\\s+)?${MODULE.replace(/\./g, '\\.')} (v\\d\\S*)`, 'm').exec(gomod)?.[1];
}

/**
 * The cached build, or built now.
 * @throws Error naming what is missing (Go, the proxy) and the build log
 */
export async function ensureEso(log: (line: string) => void): Promise<EsoBinary> {
  const version = pinnedVersion(await readFile(join(wrapperDir, 'go.mod'), 'utf8'));
  if (version === undefined) throw new Error(`cannot read the pinned ${MODULE} version from ${wrapperDir}go.mod`);
  const go = await findGo(ESO_MIN_GO);
  if ('problem' in go) throw new Error(`${go.message}. External Secrets Operator ${version} is built from its Go module for the benchmark. ${installGoHint(ESO_MIN_GO)}`, { cause: go.cause });
  const hash = createHash('sha256').update(go.version).update(BUILD_FLAGS_VERSION);
  for (const file of ['go.mod', 'go.sum']) hash.update(`${file}\0`).update(await readFile(join(wrapperDir, file)));
  const dir = join(cacheRoot(), 'eso', `eso-${version}-${hash.digest('hex').slice(0, 12)}`);
  const binary: EsoBinary = { path: join(dir, 'external-secrets'), crdsPath: join(dir, 'bundle.yaml'), version };
  if (await pathExists(join(dir, 'manifest.json'))) return binary;
  const logPath = buildLogPath(dir);
  try {
    await buildIntoCache(dir, { version }, async (tmp, logFile) => {
      log(`building External Secrets Operator ${version} from its Go module (first run only; cached in ${dir}; log ${logPath}) ...`);
      const started = Date.now();
      await runGo(['build', '-trimpath', '-ldflags', '-s -w', '-o', join(tmp, 'external-secrets'), MODULE], wrapperDir, logFile);
      const { stdout } = await execFileAsync('go', ['list', '-m', '-f', '{{.Dir}}', MODULE], { cwd: wrapperDir, env: goEnv() });
      await copyFile(join(stdout.trim(), 'deploy', 'crds', 'bundle.yaml'), join(tmp, 'bundle.yaml'));
      await execFileAsync(join(tmp, 'external-secrets'), ['--help'], { timeout: 30_000 });
      log(`built External Secrets Operator ${version} in ${Math.round((Date.now() - started) / 1000)} s`);
    });
  } catch (err) {
    throw new Error(`building External Secrets Operator ${version} failed: ${err instanceof Error ? err.message : String(err)}; see ${logPath}`, { cause: err });
  }
  return binary;
}
