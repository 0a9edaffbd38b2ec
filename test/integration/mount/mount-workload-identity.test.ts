/**
 * `kvsync mount` with workload identity, as the webhook wires it: a ServiceAccount token issued by the
 * run's REAL kube-apiserver (TokenRequest, audience api://AzureADTokenExchange, what kubelet projects
 * into the pod) in a file named by AZURE_FEDERATED_TOKEN_FILE, with AZURE_CLIENT_ID / AZURE_TENANT_ID.
 * The emulator's Entra ID verifies it against the apiserver's discovery document and JWKS. A token of
 * another ServiceAccount is refused, and the sidecar then writes nothing and stays not ready.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../../src/emulator/server.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';

const repo = join(import.meta.dirname, '..', '..', '..');
const CLI = join(repo, 'src', 'cli.ts');
const VALUE = 'wi-mounted-3f8a1c';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
let namespace = '';
let work = '';
let emu: RunningEmulator;

async function tokenFile(serviceAccount: string): Promise<string> {
  const tr = await core.createNamespacedServiceAccountToken({ namespace, name: serviceAccount, body: { spec: { audiences: ['api://AzureADTokenExchange'], expirationSeconds: 3600 } } });
  const file = join(work, `${serviceAccount}.token`);
  writeFileSync(file, tr.status?.token ?? '', { mode: 0o600 });
  return file;
}

function startMount(dir: string, readyFile: string, tokenPath: string): { lines: string[]; kill: (s: NodeJS.Signals) => void; exit: Promise<number | null>; running: () => boolean } {
  const spec = { vault: { name: 'devkv', tenantID: emu.endpoints.tenantID }, identity: { workloadIdentity: { serviceAccountName: 'shop' } }, objects: [{ name: 'db-password', type: 'secret', alias: 'password', filePermission: '0640' }], refreshInterval: '1m' };
  const clientId = emu.config.servicePrincipals.find((p) => p.name === 'shop-app')?.clientId ?? '';
  const child = spawn(process.execPath, [CLI, 'mount', '--spec-json', JSON.stringify(spec), '--dir', dir, '--ready-file', readyFile, '--azure-endpoints', join(work, 'state', 'endpoints.json')], {
    cwd: repo,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AZURE_CLIENT_ID: clientId, AZURE_TENANT_ID: emu.endpoints.tenantID, AZURE_FEDERATED_TOKEN_FILE: tokenPath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  child.stdout.on('data', (b: Buffer) => lines.push(...b.toString().split('\n').filter((l) => l !== '')));
  child.stderr.on('data', (b: Buffer) => lines.push(...b.toString().split('\n').filter((l) => l !== '')));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { lines, kill: (s) => child.kill(s), exit, running: () => child.exitCode === null && child.signalCode === null };
}

async function waitFor(what: () => string, probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'kvsync-mount-wi-'));
  namespace = await createTestNamespace(kc, 'mount-wi');
  for (const name of ['shop', 'intruder']) await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  const caFile = join(work, 'kube-ca.pem');
  const cluster = kc.getCurrentCluster();
  writeFileSync(caFile, cluster?.caData !== undefined ? Buffer.from(cluster.caData, 'base64').toString('utf8') : inject('kubeCaPem'));
  emu = await startEmulator({
    stateDir: join(work, 'state'),
    log: () => undefined,
    configDocument: {
      vaults: [{ name: 'devkv', secrets: [{ name: 'db-password', value: VALUE }] }],
      servicePrincipals: [{ name: 'shop-app', federatedCredentials: [{ issuer: inject('serviceAccountIssuer'), subject: `system:serviceaccount:${namespace}:shop` }] }],
      roleAssignments: [{ principal: 'shop-app', role: 'Key Vault Secrets User', vault: 'devkv' }],
      trustedIssuerCaFiles: [caFile],
    },
  });
});

afterAll(async () => {
  await emu.stop();
  await deleteTestNamespace(kc, namespace);
  rmSync(work, { recursive: true, force: true });
});

describe('kvsync mount with workload identity (real ServiceAccount token)', () => {
  it('writes the files with the pod ServiceAccount\'s federated identity', async () => {
    const dir = join(work, 'ok');
    const readyFile = join(work, 'ok-ready');
    const sidecar = startMount(dir, readyFile, await tokenFile('shop'));
    try {
      await waitFor(() => `the ready file (sidecar: ${sidecar.lines.slice(-2).join(' | ')})`, () => existsSync(readyFile));
      expect(readFileSync(join(dir, 'password'), 'utf8')).toBe(VALUE);
      expect(sidecar.lines.join('\n')).toContain('workloadIdentity client');
      sidecar.kill('SIGTERM');
      expect(await sidecar.exit).toBe(0);
    } finally {
      if (sidecar.running()) sidecar.kill('SIGKILL');
    }
  });

  it("another ServiceAccount's token is refused: nothing written, not ready, the reason logged", async () => {
    const dir = join(work, 'intruder');
    const readyFile = join(work, 'intruder-ready');
    const token = await tokenFile('intruder');
    const sidecar = startMount(dir, readyFile, token);
    try {
      await waitFor(() => `a failed first fetch (sidecar: ${sidecar.lines.slice(-2).join(' | ')})`, () => sidecar.lines.some((l) => l.includes('first fetch failed')));
      const failure = sidecar.lines.find((l) => l.includes('first fetch failed')) ?? '';
      expect(failure).toMatch(/AuthenticationFailed|700213/);
      // The ServiceAccount token is a credential: never logged.
      expect(sidecar.lines.join('\n')).not.toContain(readFileSync(token, 'utf8').split('.')[2] ?? 'no-token');
      expect(existsSync(readyFile)).toBe(false);
      expect(existsSync(join(dir, 'password'))).toBe(false);
      sidecar.kill('SIGTERM');
      expect(await sidecar.exit).toBe(0);
    } finally {
      if (sidecar.running()) sidecar.kill('SIGKILL');
    }
  });
});
