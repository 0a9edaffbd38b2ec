/**
 * The Gateway API's standard-channel CRDs, for tests and local clusters: taken from the Go module
 * `sigs.k8s.io/gateway-api` through the Go module proxy (`go mod download`), at the version the local
 * ingress controller (Traefik, hack/traefik) is built with, so both agree on the API.
 *
 * Cached in `~/.cache/kvsync/gateway-api/<version>/*.yaml`, written into a temporary folder and renamed
 * into place only when complete (go-toolchain.ts's buildIntoCache).
 */
import { execFile } from 'node:child_process';
import { copyFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { applyCrds } from '../api/install.ts';
import { ControlPlaneError } from './errors.ts';
import { buildIntoCache, buildLogPath, goEnv, pathExists } from './go-toolchain.ts';
import { cacheRoot } from './kube-binaries.ts';

const execFileAsync = promisify(execFile);

const MODULE = 'sigs.k8s.io/gateway-api';
const traefikGoSum = fileURLToPath(new URL('../../hack/traefik/go.sum', import.meta.url));

export const GATEWAY_API_CRD_FIELD_MANAGER = 'kvsync-gateway-api';

/** The Gateway API version the pinned Traefik build uses (its go.sum, the single place it is set). */
export async function pinnedGatewayApiVersion(): Promise<string> {
  const sum = await readFile(traefikGoSum, 'utf8');
  const v = /^sigs\.k8s\.io\/gateway-api (v\d[^\s/]*) /m.exec(sum)?.[1];
  if (v === undefined) throw new ControlPlaneError('BuildFailed', `cannot read the Gateway API version from ${traefikGoSum}`);
  return v;
}

/**
 * The standard-channel CRD files, downloaded once.
 * @throws ControlPlaneError BuildFailed (with the log path) when the module proxy refuses or go is missing
 */
export async function ensureGatewayApiCrds(): Promise<{ version: string; files: string[] }> {
  const version = await pinnedGatewayApiVersion();
  const dir = join(cacheRoot(), 'gateway-api', version);
  if (!(await pathExists(join(dir, 'manifest.json')))) {
    try {
      await buildIntoCache(dir, { module: MODULE, version }, async (tmp, logFile) => {
        logFile.write(`$ go mod download -json ${MODULE}@${version}\n`);
        // Outside any module: `go mod download` of a module@version needs no go.mod, and writes nothing here.
        const { stdout } = await execFileAsync('go', ['mod', 'download', '-json', `${MODULE}@${version}`], { cwd: tmp, env: { ...goEnv(), GOFLAGS: '' }, timeout: 600_000, maxBuffer: 4 << 20 });
        logFile.write(stdout);
        const moduleDir = (JSON.parse(stdout) as { Dir?: string }).Dir;
        if (moduleDir === undefined) throw new Error(`go mod download printed no module directory for ${MODULE}@${version}`);
        const standard = join(moduleDir, 'config', 'crd', 'standard');
        for (const f of await readdir(standard)) if (f.endsWith('.yaml')) await copyFile(join(standard, f), join(tmp, f));
      });
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      throw new ControlPlaneError('BuildFailed', `downloading the Gateway API CRDs (${MODULE}@${version}) failed: ${detail}; see ${buildLogPath(dir)}. Check that go is installed and the Go module proxy (GOPROXY) is reachable.`, { cause: err });
    }
  }
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(dir, f));
  return { version, files };
}

/** Server-side applies the standard-channel Gateway API CRDs and waits until each is Established. */
export async function installGatewayApiCrds(kc: k8s.KubeConfig, opts: { timeoutMs?: number } = {}): Promise<string> {
  const { version, files } = await ensureGatewayApiCrds();
  const crds: object[] = [];
  for (const f of files) {
    for (const doc of parseAllDocuments(await readFile(f, 'utf8'))) {
      const obj = doc.toJS() as { kind?: string } | null;
      if (obj?.kind === 'CustomResourceDefinition') crds.push(obj);
    }
  }
  await applyCrds(kc, crds, GATEWAY_API_CRD_FIELD_MANAGER, opts);
  return version;
}
