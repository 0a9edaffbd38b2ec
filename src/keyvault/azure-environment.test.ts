import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { authorityHostFor, credentialOptions, DEFAULT_IMDS_HOST, loadAzureEnvironment } from './azure-environment.ts';

const dir = mkdtempSync(join(tmpdir(), 'kvsync-env-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function endpointsFile(): string {
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const file = join(dir, 'endpoints.json');
  writeFileSync(
    file,
    JSON.stringify({
      tenantID: 't-emu',
      caFile: ca,
      authorityHost: 'https://127.0.0.1:8443/',
      imdsEndpoint: 'http://127.0.0.1:9000',
      adminUrl: 'https://127.0.0.1:8443/admin',
      vaults: { devkv: 'https://devkv.vault.azure.net:8443' },
      resolve: { 'devkv.vault.azure.net': '127.0.0.1' },
      admin: { clientID: 'c', clientSecret: 's' },
    }),
  );
  return file;
}

describe('loadAzureEnvironment', () => {
  it('defaults to the public clouds and the VM IMDS, with instance discovery on', async () => {
    const env = await loadAzureEnvironment({ env: {} });
    expect(env.imdsHost).toBe(DEFAULT_IMDS_HOST);
    expect(authorityHostFor(env, 'AzurePublicCloud')).toBe('https://login.microsoftonline.com');
    expect(authorityHostFor(env, 'AzureUSGovernmentCloud')).toBe('https://login.microsoftonline.us');
    expect(authorityHostFor(env, 'AzureChinaCloud')).toBe('https://login.chinacloudapi.cn');
    expect(credentialOptions(env, 'AzureChinaCloud')).toMatchObject({ authorityHost: 'https://login.chinacloudapi.cn', disableInstanceDiscovery: false });
  });

  it('honours AZURE_AUTHORITY_HOST and AZURE_POD_IDENTITY_AUTHORITY_HOST (trailing slash removed)', async () => {
    const env = await loadAzureEnvironment({ env: { AZURE_AUTHORITY_HOST: 'https://login.example/', AZURE_POD_IDENTITY_AUTHORITY_HOST: 'http://127.0.0.1:2579/', AZURE_TENANT_ID: 'tt' } });
    expect(env.imdsHost).toBe('http://127.0.0.1:2579');
    expect(env.defaultTenantId).toBe('tt');
    expect(credentialOptions(env, 'AzurePublicCloud')).toMatchObject({ authorityHost: 'https://login.example', disableInstanceDiscovery: true });
  });

  it('reads an emulator endpoints file: CA, agent, resolve map, authority, IMDS, tenant, admin', async () => {
    const env = await loadAzureEnvironment({ endpointsFile: endpointsFile(), env: {} });
    expect(env).toMatchObject({ authorityHostOverride: 'https://127.0.0.1:8443', imdsHost: 'http://127.0.0.1:9000', defaultTenantId: 't-emu', resolve: { 'devkv.vault.azure.net': '127.0.0.1' }, emulatorAdmin: { clientID: 'c' } });
    expect(env.agent).toBeDefined();
    expect(credentialOptions(env, 'AzurePublicCloud')).toMatchObject({ disableInstanceDiscovery: true, tlsOptions: { ca: expect.stringContaining('BEGIN CERTIFICATE') as string } });
    env.agent?.destroy();
  });

  it('fails with InvalidEndpointsFile for a missing file', async () => {
    await expect(loadAzureEnvironment({ endpointsFile: join(dir, 'nope.json'), env: {} })).rejects.toMatchObject({ reason: 'InvalidEndpointsFile' });
  });
});
