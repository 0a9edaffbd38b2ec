/**
 * Threat: a host that is not Azure (or a broken proxy in the way) answers kvsync's Key Vault, Entra ID
 * and IMDS requests with whatever hurts most: bodies of tens of MiB, a gzip bomb, HTML, truncated
 * JSON, redirects, errors echoing input, ids naming another vault, a `cer` that is not DER, tokens
 * without a lifetime (corpus/azure-responses.ts). Defences: every response body is bounded
 * (src/keyvault/response-limit.ts, the IMDS client), answers are checked before use (fetch.ts), tokens
 * without a future lifetime are refused (imds-credential.ts), and every failure is a typed reason in
 * kvsync's own words (errors.ts). Each case runs through kvsync's fetch with a real credential, against
 * the hostile proxy in front of the emulator, and must end in its reason without the marker; after
 * the whole corpus the same vault syncs normally (nothing is stuck or poisoned).
 */
import { randomUUID } from 'node:crypto';
import { ClientSecretCredential, type TokenCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyVaultSync } from '../../src/api/parse.ts';
import type { ResolvedKeyVaultSync } from '../../src/api/resolved.ts';
import { credentialOptions, loadAzureEnvironment, type AzureEnvironment } from '../../src/keyvault/azure-environment.ts';
import { fetchObjects } from '../../src/keyvault/fetch.ts';
import { KeyVaultAccess } from '../../src/keyvault/access.ts';
import { ImdsCredential } from '../../src/keyvault/imds-credential.ts';
import { SP_SECRET, startWorld, VAULT, type TestWorld } from '../integration/controller/support.ts';
import { startAzureProxy, type AzureProxy } from './azure-proxy.ts';
import { azureResponseCorpus, MARKER, matches, type AzureResponseCase } from './corpus/azure-responses.ts';

let world: TestWorld;
let proxy: AzureProxy;
let env: AzureEnvironment;
let vaultUrl = '';
/** Shared by the Key Vault cases: its token is read once, through the proxy, from the emulator. */
let spCredential: TokenCredential;
/** The file's Key Vault clients and guards (as one controller would share them across the cases). */
const access = new KeyVaultAccess();

function syncFor(c: Pick<AzureResponseCase, 'target' | 'objectType'>): ResolvedKeyVaultSync {
  const identity = c.target === 'imds-token' ? { podIdentity: { identityRef: 'pod' } } : { servicePrincipal: { secretRef: { name: 'kv-creds' } } };
  const object = c.objectType === 'cert' ? { name: 'shop-tls', type: 'cert' } : { name: 'db-password', type: 'secret' };
  const parsed = parseKeyVaultSync({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name: 'corpus', namespace: 'x' }, spec: { vault: { name: VAULT, url: vaultUrl, tenantID: world.emu.endpoints.tenantID }, identity, objects: [object] } }, env);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return parsed.value;
}

function credentialFor(c: AzureResponseCase): TokenCredential {
  if (c.target === 'imds-token') return new ImdsCredential({ host: env.imdsHost, clientId: randomUUID(), attempts: 1 });
  // A token request per Entra case: a fresh credential has no cached token.
  if (c.target === 'entra-token') return new ClientSecretCredential(world.emu.endpoints.tenantID, world.spClientId, SP_SECRET, credentialOptions(env, 'AzurePublicCloud'));
  return spCredential;
}

/** The reason kvsync ends in, and its message. */
async function outcome(c: AzureResponseCase): Promise<{ reason: string; message: string }> {
  const result = await fetchObjects(syncFor(c), credentialFor(c), env, { access, maxRetries: 0 });
  const failure = result.failures[0];
  return failure === undefined ? { reason: 'Synced', message: '' } : { reason: failure.reason, message: failure.message };
}

beforeAll(async () => {
  world = await startWorld();
  proxy = await startAzureProxy(world.endpointsFile);
  env = await loadAzureEnvironment({ endpointsFile: proxy.endpointsFile, env: {} });
  vaultUrl = proxy.endpoints.vaults[VAULT] ?? '';
  spCredential = new ClientSecretCredential(world.emu.endpoints.tenantID, world.spClientId, SP_SECRET, credentialOptions(env, 'AzurePublicCloud'));
});

afterAll(async () => {
  await proxy?.stop();
  await world?.emu.stop();
});

describe('threat: hostile Key Vault, Entra ID and IMDS answers', () => {
  it('the corpus holds at least 12 cases', () => {
    expect(azureResponseCorpus('https://devkv.vault.azure.net', 'db-password', 'shop-tls').length).toBeGreaterThanOrEqual(12);
  });

  it('a normal read through the proxy syncs (the corpus below is what changes)', async () => {
    proxy.answer = undefined;
    expect(await outcome({ name: 'baseline', target: 'vault-read', objectType: 'secret', answer: { destroy: true }, expectedReason: 'Synced' })).toEqual({ reason: 'Synced', message: '' });
  });

  describe.each(azureResponseCorpus('https://devkv.vault.azure.net', 'db-password', 'shop-tls').map((c) => [c.name, c] as const))('%s', (_name, template) => {
    it(`ends in ${template.expectedReason}, in kvsync's words`, async () => {
      const c = azureResponseCorpus(vaultUrl, 'db-password', 'shop-tls').find((x) => x.name === template.name) ?? template;
      const before = proxy.hostile.length;
      proxy.answer = (r) => (matches(c.target, r) ? c.answer : undefined);
      let got: { reason: string; message: string };
      try {
        got = await outcome(c);
      } finally {
        proxy.answer = undefined;
      }
      expect(proxy.hostile.length, `the hostile answer was served (${got.reason}: ${got.message})`).toBeGreaterThan(before);
      expect(got.reason, got.message).toBe(c.expectedReason);
      expect(got.message).not.toContain(MARKER);
      expect(got.message).not.toContain('<script>');
    });
  });

  it('after the whole corpus the vault syncs normally again', async () => {
    proxy.answer = undefined;
    expect(await outcome({ name: 'after', target: 'vault-read', objectType: 'secret', answer: { destroy: true }, expectedReason: 'Synced' })).toEqual({ reason: 'Synced', message: '' });
  });
});
