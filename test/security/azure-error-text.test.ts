/**
 * Threat: Azure's error text reaches what tenants and log readers see. Entra's and Key Vault's
 * messages echo what kvsync sent (AADSTS700016 quotes the client ID), and a vault host or an IMDS
 * endpoint that is not Azure at all can answer anything. Defence: every Azure failure becomes our own
 * sentence with the HTTP status and the error codes only (toSyncError, src/keyvault/errors.ts; IMDS in
 * src/keyvault/imds-credential.ts). A proxy in front of the emulator answers errors whose messages
 * carry a marker; the marker must reach no status, event, controller log line, metric, `kvsync render`
 * output or `kvsync mount` output, while the code does.
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { installCrds } from '../../src/api/install.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { conditionOf, createCredentialsSecret, startWorld, syncApi, syncSpec, VAULT, type TestWorld } from '../integration/controller/support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../integration/support/kube.ts';
import { startAzureProxy, type AzureProxy, type SeenRequest } from './azure-proxy.ts';
import { channels, runKvsync, startLoggedController, type LoggedController } from './channels.ts';

const WAIT = { timeoutMs: 45_000, intervalMs: 200 };
const MARKER = 'MARKER-7c41-hunter2';
const REPO = join(import.meta.dirname, '..', '..');

const kc = kubeConfig();
const syncs = syncApi(kc);
let world: TestWorld;
let proxy: AzureProxy;
let ns = '';
let opNs = '';
let running: LoggedController | undefined;

const entraToken = (r: SeenRequest): boolean => r.service === 'entra' && r.method === 'POST' && r.path.includes('/oauth2/');
const vaultRead = (r: SeenRequest): boolean => r.service === 'vault' && r.authorized && r.path.startsWith('/secrets/');
const json = (status: number, body: unknown) => ({ status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(body) });

/** The AADSTS700016 Entra sends for a client ID it does not know, quoting it (here: the marker). */
const unknownClient = json(400, {
  error: 'unauthorized_client',
  error_description: `AADSTS700016: Application with identifier '${MARKER}' was not found in the directory 'x'.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2026-12-06 08:00:00Z`,
  error_codes: [700016],
});
/** Key Vault's 403 body, its message carrying the marker. */
const forbidden = json(403, { error: { code: 'Forbidden', message: `Caller ${MARKER} is not authorized to perform action on resource.`, innererror: { code: 'ForbiddenByRbac' } } });

/** A KeyVaultSync spec whose vault URL is the proxy's. */
function proxiedSpec(rest: Record<string, unknown>): Record<string, unknown> {
  return syncSpec(world, { vault: { name: VAULT, url: proxy.endpoints.vaults[VAULT], tenantID: world.emu.endpoints.tenantID }, ...rest });
}

async function failedWith(name: string): Promise<{ reason: string; message: string }> {
  return pollUntil(async () => {
    const c = conditionOf(await syncs.get(ns, name), 'Ready');
    return c?.status === 'False' ? c : undefined;
  }, { ...WAIT, description: `${name} Ready=False` });
}

async function expectNoMarker(name: string): Promise<void> {
  await pollUntil(async () => ((await channels(kc, running!, ns, name)).events.includes(`"name":"${name}"`) ? true : undefined), { ...WAIT, description: `a Warning event for ${name}` });
  const seen = await channels(kc, running!, ns, name);
  for (const [channel, text] of Object.entries(seen)) expect(text.includes(MARKER), `${channel} carries the marker`).toBe(false);
}

beforeAll(async () => {
  await installCrds(kc);
  world = await startWorld();
  proxy = await startAzureProxy(world.endpointsFile);
  ns = await createTestNamespace(kc, 'sec-azure-text');
  opNs = await createTestNamespace(kc, 'sec-azure-text-op');
  await createCredentialsSecret(kc, ns, world);
  running = await startLoggedController(kc, { ...world, endpointsFile: proxy.endpointsFile }, { namespace: opNs, watchNamespace: ns });
});

afterAll(async () => {
  await running?.controller.stop();
  await proxy?.stop();
  await world?.emu.stop();
  if (ns !== '') await deleteTestNamespace(kc, ns);
  if (opNs !== '') await deleteTestNamespace(kc, opNs);
});

describe('threat: Azure error text in status, events, logs, metrics and CLI output', () => {
  it('Entra AADSTS700016 quoting the client ID: AuthenticationFailed with the code, the quoted text nowhere', async () => {
    proxy.answer = (r) => (entraToken(r) ? unknownClient : undefined);
    await syncs.create(ns, 'entra', proxiedSpec({ objects: [{ name: 'db-password', type: 'secret' }], secretObjects: [{ secretName: 'entra', type: 'Opaque', data: [{ objectName: 'db-password', key: 'v' }] }] }));
    const ready = await failedWith('entra');
    expect(ready.reason).toBe('AuthenticationFailed');
    expect(ready.message).toContain('Entra ID refused the token request (AADSTS700016)');
    expect(proxy.hostile.some(entraToken)).toBe(true);
    await expectNoMarker('entra');
  });

  it('Key Vault 403 whose message carries the marker: VaultAccessDenied with its codes, the message nowhere', async () => {
    proxy.answer = (r) => (vaultRead(r) ? forbidden : undefined);
    await syncs.create(ns, 'vault', proxiedSpec({ objects: [{ name: 'api-token', type: 'secret' }], secretObjects: [{ secretName: 'vault', type: 'Opaque', data: [{ objectName: 'api-token', key: 'v' }] }] }));
    const ready = await failedWith('vault');
    expect(ready.reason).toBe('VaultAccessDenied');
    expect(ready.message).toContain('HTTP 403 Forbidden/ForbiddenByRbac');
    await expectNoMarker('vault');
  });

  it('kvsync render: the same 403 prints the codes, not the message', async () => {
    proxy.answer = (r) => (vaultRead(r) ? forbidden : undefined);
    const dir = await mkdtemp(join(tmpdir(), 'kvsync-sec-azure-text-'));
    const file = join(dir, 'sync.yaml');
    await writeFile(file, stringify({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name: 'r', namespace: 'x' }, spec: proxiedSpec({ objects: [{ name: 'db-password', type: 'secret' }] }) }));
    const run = await runKvsync(['render', '-f', file, '--azure-endpoints', proxy.endpointsFile]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('VaultAccessDenied');
    expect(run.stderr).toContain('ForbiddenByRbac');
    expect(run.stdout + run.stderr).not.toContain(MARKER);
  });

  it('kvsync mount: an IMDS error quoting the marker is logged as AuthenticationFailed with the status and code only', async () => {
    proxy.answer = (r) => (r.service === 'imds' ? json(400, { error: 'invalid_request', error_description: `Identity ${MARKER} not found` }) : undefined);
    const dir = await mkdtemp(join(tmpdir(), 'kvsync-sec-azure-text-mount-'));
    const spec = { vault: { name: 'devkv', tenantID: world.emu.endpoints.tenantID }, identity: { podIdentity: { identityRef: 'pod' } }, objects: [{ name: 'db-password', type: 'secret' }], refreshInterval: '1h' };
    const child = spawn(process.execPath, [join(REPO, 'src', 'cli.ts'), 'mount', '--spec-json', JSON.stringify(spec), '--dir', join(dir, 'files'), '--azure-endpoints', proxy.endpointsFile], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AZURE_CLIENT_ID: randomUUID() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
    try {
      await pollUntil(() => (out.includes('AuthenticationFailed') ? true : undefined), { ...WAIT, description: 'the sidecar reporting AuthenticationFailed', isFatal: () => child.exitCode !== null });
    } finally {
      child.kill('SIGKILL');
    }
    expect(out).toContain('HTTP 400, invalid_request');
    expect(out).not.toContain(MARKER);
  });
});
