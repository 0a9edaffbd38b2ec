import { describe, expect, it } from 'vitest';
import { DEFAULT_TENANT_ID, DEFAULT_VAULT_NAME, derivedGuid, normalizeConfig } from './config.ts';
import { EmulatorConfigError } from './errors.ts';

const admin = { clientId: 'admin-client', secret: 'admin-secret' };

describe('emulator config', () => {
  it('has sensible defaults: one vault, a node identity on IMDS with read roles, the admin as Administrator everywhere', async () => {
    const c = await normalizeConfig(undefined, admin);
    expect(c.tenantId).toBe(DEFAULT_TENANT_ID);
    expect(c.vaults.map((v) => v.name)).toEqual([DEFAULT_VAULT_NAME]);
    expect(c.vaults[0]?.requestsPer10s).toBe(4000);
    expect(c.imdsIdentities).toEqual(['node-identity']);
    const adminSp = c.servicePrincipals.find((p) => p.clientId === 'admin-client');
    expect(adminSp?.secrets).toEqual(['admin-secret']);
    expect(c.roleAssignments).toContainEqual({ principalObjectId: adminSp?.objectId, role: 'Key Vault Administrator', vault: '*' });
    expect(c.issuers.map((i) => i.name)).toEqual(['EmulatorTestCA']);
  });

  it('resolves principals by name, client ID or object ID and derives stable IDs', async () => {
    const c = await normalizeConfig(
      {
        vaults: [{ name: 'shop-kv' }],
        servicePrincipals: [{ name: 'app', secrets: ['s'] }],
        managedIdentities: [{ name: 'mi', clientId: 'mi-client' }],
        roleAssignments: [
          { principal: 'app', role: 'Key Vault Secrets User', vault: 'shop-kv' },
          { principal: 'mi-client', role: 'Key Vault Reader', scope: 'secrets/db' },
        ],
      },
      admin,
    );
    const app = c.servicePrincipals.find((p) => p.name === 'app');
    expect(app?.clientId).toBe(derivedGuid('client', 'app'));
    expect(app?.objectId).toBe(derivedGuid('object', DEFAULT_TENANT_ID, app?.clientId ?? ''));
    expect(c.roleAssignments[0]).toEqual({ principalObjectId: app?.objectId, role: 'Key Vault Secrets User', vault: 'shop-kv' });
    expect(c.roleAssignments[1]).toMatchObject({ role: 'Key Vault Reader', vault: '*', scope: 'secrets/db' });
  });

  it.each([
    [{ bogus: 1 }, 'config bogus: unknown key'],
    [{ vaults: [{ name: 'x' }] }, 'config vaults[0].name: must be 3-24 letters'],
    [{ vaults: [{ name: 'kv1', secrets: [{ name: 'bad_name', value: 'v' }] }] }, 'config vaults[0].secrets[0].name: must match'],
    [{ vaults: [{ name: 'kv1', certificates: [{ name: 'c', issuer: 'Nope' }] }] }, 'config vaults[0].certificates[0].issuer: unknown issuer "Nope"'],
    [{ roleAssignments: [{ principal: 'ghost', role: 'Key Vault Reader' }] }, 'config roleAssignments[0].principal: unknown principal "ghost"'],
    [{ managedIdentities: [{ name: 'mi' }], roleAssignments: [{ principal: 'mi', role: 'Owner' }] }, 'config roleAssignments[0].role: unknown role "Owner"'],
    [{ imds: { identities: ['nobody'] } }, 'config imds.identities[0]: unknown managed identity "nobody"'],
    [{ vaults: [{ name: 'kv1' }, { name: 'KV1' }] }, 'config vaults: names must be unique'],
    [{ trustedIssuerCaFiles: ['/nonexistent/ca.pem'] }, 'config trustedIssuerCaFiles[0]: cannot read /nonexistent/ca.pem'],
  ])('rejects %j with a clear error', async (doc, message) => {
    const err = await normalizeConfig(doc, admin).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmulatorConfigError);
    expect((err as EmulatorConfigError).reason).toBe('InvalidEmulatorConfig');
    expect((err as Error).message).toContain(message);
  });
});
