/**
 * The composed emulator end to end with a managed identity: ManagedIdentityCredential gets its token from
 * the emulator's IMDS (through AZURE_POD_IDENTITY_AUTHORITY_HOST, as aad-pod-identity's NMI serves it) and
 * reads from the vault with the roles the default config gives the node identity.
 */
import { ManagedIdentityCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorAgent } from '../../../src/keyvault/endpoints-file.ts';
import type { RunningEmulator } from '../../../src/emulator/server.ts';
import { clientsFor, countOf, requestCounts, startTestEmulator, VAULT } from './kv-support.ts';

let emu: RunningEmulator;
const saved = process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;

beforeAll(async () => {
  emu = await startTestEmulator();
  process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = emu.endpoints.imdsEndpoint;
  await clientsFor(emu).secrets.setSecret('for-the-node', 'node-value');
});
afterAll(async () => {
  if (saved === undefined) delete process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
  else process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = saved;
  await emu.stop();
});

describe('managed identity through IMDS', () => {
  it('reads a secret with the node identity (default config: Secrets User on every vault)', async () => {
    const nodeIdentity = emu.config.managedIdentities.find((m) => m.name === 'node-identity');
    expect(nodeIdentity).toBeDefined();
    const credential = new ManagedIdentityCredential({ clientId: nodeIdentity?.clientId ?? '' });
    const client = new SecretClient(emu.endpoints.vaults[VAULT] ?? '', credential, { agent: emulatorAgent(emu.endpoints, emu.caPem) });
    expect((await client.getSecret('for-the-node')).value).toBe('node-value');
    // Secrets User cannot write.
    await expect(client.setSecret('for-the-node', 'nope')).rejects.toMatchObject({ statusCode: 403 });
    const counts = await requestCounts(emu);
    expect(counts.some((c) => c.vault === '' && c.operation === 'imdsToken' && c.status === 200)).toBe(true);
    expect(countOf(counts, 'getSecret', 200)).toBe(1);
  });
});
