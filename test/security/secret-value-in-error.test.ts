/**
 * Threat: a tenant reads a Secret of their namespace that they may not read (say a database password
 * another team keeps there) through kvsync's error reporting. They name the Secret in a service
 * principal identity and point `clientIDKey` at its `password` key: kvsync sends the password to
 * Entra ID as a client ID, Entra answers AADSTS700016 quoting the "client ID", and the message would
 * reach the status condition, a Warning event, the controller log and `kvsync render` output.
 * Defences: client IDs are checked to be GUIDs before use and refused as InvalidSpec naming the field
 * only (src/api/azure-ids.ts, src/keyvault/credentials.ts); Azure error messages are never repeated
 * (src/keyvault/errors.ts). The value must appear in no channel, in plain or base64 form.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { installCrds } from '../../src/api/install.ts';
import { pollUntil } from '../../src/util/poll.ts';
import { conditionOf, SP_SECRET, startWorld, syncApi, syncSpec, VAULT, type TestWorld } from '../integration/controller/support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../integration/support/kube.ts';
import { channels, formsOf, runKvsync, startLoggedController, type LoggedController } from './channels.ts';

const WAIT = { timeoutMs: 45_000, intervalMs: 200 };
/** The other team's password, in a key of the Secret the attacker names. */
const PASSWORD = 'Winter2026-payroll-db-7Hq';

const kc = kubeConfig();
const syncs = syncApi(kc);
let world: TestWorld;
let ns = '';
let opNs = '';
let running: LoggedController | undefined;

beforeAll(async () => {
  await installCrds(kc);
  world = await startWorld();
  ns = await createTestNamespace(kc, 'sec-value');
  opNs = await createTestNamespace(kc, 'sec-value-op');
  await kc.makeApiClient(k8s.CoreV1Api).createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'payroll-db' }, stringData: { username: 'payroll', password: PASSWORD, clientsecret: SP_SECRET } },
  });
  running = await startLoggedController(kc, world, { namespace: opNs, watchNamespace: ns });
});

afterAll(async () => {
  await running?.controller.stop();
  await world?.emu.stop();
  if (ns !== '') await deleteTestNamespace(kc, ns);
  if (opNs !== '') await deleteTestNamespace(kc, opNs);
});

describe('threat: a Secret value read through an error message', () => {
  it('clientIDKey naming the password key: refused as InvalidSpec naming the field; the value is in no status, event, log line or metric', async () => {
    await syncs.create(
      ns,
      'peek',
      syncSpec(world, {
        identity: { servicePrincipal: { secretRef: { name: 'payroll-db', clientIDKey: 'password' } } },
        objects: [{ name: 'db-password', type: 'secret' }],
        secretObjects: [{ secretName: 'peek', type: 'Opaque', data: [{ objectName: 'db-password', key: 'v' }] }],
      }),
    );
    const ready = await pollUntil(async () => {
      const c = conditionOf(await syncs.get(ns, 'peek'), 'Ready');
      return c?.status === 'False' ? c : undefined;
    }, { ...WAIT, description: 'peek Ready=False' });
    expect(ready.reason).toBe('InvalidSpec');
    expect(ready.message).toContain('clientIDKey');
    expect(ready.message).toContain(`key "password" of service principal Secret ${ns}/payroll-db`);
    // The Warning event is recorded after the status: wait for it, so the search below covers it.
    await pollUntil(async () => ((await channels(kc, running!, ns, 'peek')).events.includes('"reason":"InvalidSpec"') ? true : undefined), { ...WAIT, description: 'the InvalidSpec Warning event' });

    const seen = await channels(kc, running!, ns, 'peek');
    expect(seen.logs).toContain('sync failed');
    for (const [channel, text] of Object.entries(seen)) {
      for (const form of formsOf(PASSWORD)) expect(text.includes(form), `${channel} carries the password`).toBe(false);
    }
  });

  it('kvsync render with a password as AZURE_CLIENT_ID: refused before any request, the value not printed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kvsync-sec-value-'));
    const file = join(dir, 'sync.yaml');
    const spec = syncSpec(world, { objects: [{ name: 'db-password', type: 'secret' }] });
    await writeFile(file, stringify({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name: 'peek', namespace: ns }, spec }));
    // Without an endpoints file the emulator's vault (its own port) is a private host: allowed by flag.
    const vaultHost = new URL(world.emu.endpoints.vaults[VAULT] ?? '').host;
    const run = await runKvsync(['render', '-f', file, '--allowed-vault-hosts', vaultHost], { AZURE_CLIENT_ID: PASSWORD, AZURE_CLIENT_SECRET: SP_SECRET, AZURE_TENANT_ID: world.emu.endpoints.tenantID, AZURE_AUTHORITY_HOST: world.emu.endpoints.authorityHost, NODE_EXTRA_CA_CERTS: world.emu.endpoints.caFile });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('AZURE_CLIENT_ID is not a client ID');
    for (const form of formsOf(PASSWORD)) expect(run.stdout + run.stderr).not.toContain(form);
  });
});
