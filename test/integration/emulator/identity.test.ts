/**
 * The identity endpoints against the REAL @azure/identity credentials: ClientSecretCredential through the
 * Entra handler (HTTPS, per-client CA, instance discovery disabled) and ManagedIdentityCredential through
 * the IMDS handler via AZURE_POD_IDENTITY_AUTHORITY_HOST. MSAL's managed-identity token cache is static per
 * process, so every MI test uses its own identity.
 */
import { ClientSecretCredential, ManagedIdentityCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clock } from '../../../src/emulator/clock.ts';
import { TokenAuthority } from '../../../src/emulator/identity/authority.ts';
import type { ManagedIdentityConfig, ServicePrincipalConfig } from '../../../src/emulator/identity/contract.ts';
import { createEntraHandler } from '../../../src/emulator/identity/entra.ts';
import { createImdsHandler } from '../../../src/emulator/identity/imds.ts';
import { objectIdOf } from '../../../src/emulator/identity/principals.ts';
import { RecordingCounter, makeTestTls, startServer } from '../../../src/emulator/identity/testing/support.ts';
import type { TestServer, TestTls } from '../../../src/emulator/identity/testing/support.ts';

const TENANT = '7e57e57e-0000-4000-8000-000000000001';
const SCOPE = 'https://vault.azure.net/.default';

const app: ServicePrincipalConfig = { name: 'sdk-app', clientId: '5dc00000-0000-4000-8000-000000000001', secrets: ['first-secret', 'second-secret'] };
const miDefault: ManagedIdentityConfig = { name: 'node-default', clientId: '31000000-0000-4000-8000-000000000001' };
const miByClientId: ManagedIdentityConfig = { name: 'by-client-id', clientId: '31000000-0000-4000-8000-000000000002' };
const miByResourceId: ManagedIdentityConfig = {
  name: 'by-resource-id',
  clientId: '31000000-0000-4000-8000-000000000003',
  resourceId: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/by-resource-id',
};

describe('identity endpoints with the real Azure SDK credentials', () => {
  const clock = new Clock();
  const counters = new RecordingCounter();
  let tls: TestTls;
  let entra: TestServer;
  let imds: TestServer;
  let authority: TokenAuthority;

  beforeAll(async () => {
    tls = makeTestTls();
    authority = await TokenAuthority.create({ tenantId: TENANT, clock, authorityUrl: () => entra.url });
    entra = await startServer(
      [createEntraHandler({ tenantId: TENANT, authority, servicePrincipals: [app], managedIdentities: [miDefault], clock, counters, trustedIssuerCaPems: [] })],
      tls,
    );
    imds = await startServer([createImdsHandler({ authority, identities: [miDefault, miByClientId, miByResourceId], counters })]);
    // Only the pod-identity path may be chosen by ManagedIdentityCredential.
    for (const v of ['IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'MSI_ENDPOINT', 'MSI_SECRET', 'IMDS_ENDPOINT', 'IDENTITY_SERVER_THUMBPRINT', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_CLIENT_ID', 'AZURE_TENANT_ID']) {
      delete process.env[v];
    }
    process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = imds.url;
  });
  afterAll(async () => {
    delete process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
    await entra.close();
    await imds.close();
  });

  describe('ClientSecretCredential', () => {
    const credential = (secret: string) =>
      new ClientSecretCredential(TENANT, app.clientId, secret, {
        authorityHost: entra.url,
        disableInstanceDiscovery: true,
        tlsOptions: { ca: tls.caPem },
      });

    it('gets a token Key Vault accepts, with CAE as the Key Vault clients request it', async () => {
      const token = await credential('second-secret').getToken(SCOPE, { enableCae: true, tenantId: TENANT });
      expect(token.token).toMatch(/^ey/);
      expect(token.expiresOnTimestamp - Date.now()).toBeGreaterThan(3500_000);
      const verified = await authority.verifyAccessToken(token.token);
      expect(verified).toMatchObject({
        ok: true,
        token: { objectId: objectIdOf(app), clientId: app.clientId, tenantId: TENANT, audience: 'https://vault.azure.net' },
      });
      // MSAL derives expiresOnTimestamp from its own clock + expires_in: equal to `exp` within a second or two.
      const exp = verified.ok ? verified.token.expiresOn : 0;
      expect(Math.abs(exp - token.expiresOnTimestamp / 1000)).toBeLessThanOrEqual(2);
      expect(counters.entries).toContainEqual({ vault: '', operation: 'token', status: 200 });
    });

    it('surfaces Entra AADSTS7000215 for a wrong secret', async () => {
      const err = await credential('wrong-secret').getToken(SCOPE).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).name).toMatch(/^Authentication(Required)?Error$/);
      expect((err as Error).message).toContain('AADSTS7000215: Invalid client secret provided');
      expect((err as Error).message).not.toContain('wrong-secret');
      expect(counters.entries).toContainEqual({ vault: '', operation: 'token', status: 401 });
    });

    it('surfaces AADSTS700016 for an unknown application', async () => {
      const cred = new ClientSecretCredential(TENANT, '00000000-dead-4000-8000-000000000000', 'x', {
        authorityHost: entra.url, disableInstanceDiscovery: true, tlsOptions: { ca: tls.caPem },
      });
      await expect(cred.getToken(SCOPE)).rejects.toThrow(/AADSTS700016: Application with identifier '00000000-dead-4000-8000-000000000000' was not found/);
    });
  });

  describe('ManagedIdentityCredential via AZURE_POD_IDENTITY_AUTHORITY_HOST', () => {
    it('gets a token for the node default identity (no client id) with a usable expiry', async () => {
      const token = await new ManagedIdentityCredential().getToken(SCOPE);
      expect(token.expiresOnTimestamp - Date.now()).toBeGreaterThan(3500_000);
      const verified = await authority.verifyAccessToken(token.token);
      expect(verified).toMatchObject({ ok: true, token: { clientId: miDefault.clientId, objectId: objectIdOf(miDefault) } });
      expect(counters.entries).toContainEqual({ vault: '', operation: 'imdsToken', status: 200 });
    });

    it('selects a user-assigned identity by client id', async () => {
      const token = await new ManagedIdentityCredential({ clientId: miByClientId.clientId }).getToken(SCOPE);
      expect(await authority.verifyAccessToken(token.token)).toMatchObject({ ok: true, token: { clientId: miByClientId.clientId } });
    });

    it('selects a user-assigned identity by resource id', async () => {
      const token = await new ManagedIdentityCredential({ resourceId: miByResourceId.resourceId ?? '' }).getToken(SCOPE);
      expect(await authority.verifyAccessToken(token.token)).toMatchObject({ ok: true, token: { clientId: miByResourceId.clientId } });
    });

    it('is refused an identity not assigned to this node (NMI 404, which the SDK retries)', async () => {
      const before = counters.entries.filter((e) => e.operation === 'imdsToken' && e.status === 404).length;
      const cred = new ManagedIdentityCredential({ clientId: '31000000-0000-4000-8000-0000000000ff', retryOptions: { maxRetries: 0 } });
      const err = await cred.getToken(SCOPE).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/getting assigned identities for pod .* failed|404/);
      const after = counters.entries.filter((e) => e.operation === 'imdsToken' && e.status === 404).length;
      // MSAL's managed-identity client retries 404 itself even with the pipeline's retries off.
      expect(after - before).toBeGreaterThanOrEqual(1);
    });
  });
});
