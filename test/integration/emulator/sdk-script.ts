/**
 * What a user's own app does against `kvsync emulator`: only the Azure SDK, node built-ins and
 * endpoints.json (no kvsync code). TLS verification and the challenge-resource check stay on.
 * Usage: node sdk-script.ts <endpoints.json> <pfx-to-import>; prints a JSON summary (no secret values).
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { ClientSecretCredential } from '@azure/identity';
import { CertificateClient } from '@azure/keyvault-certificates';
import { SecretClient } from '@azure/keyvault-secrets';

interface Endpoints {
  tenantID: string;
  caFile: string;
  authorityHost: string;
  vaults: Record<string, string>;
  resolve: Record<string, string>;
  admin: { clientID: string; clientSecret: string };
}

const [endpointsFile, pfxFile] = process.argv.slice(2);
if (endpointsFile === undefined || pfxFile === undefined) throw new Error('usage: sdk-script.ts <endpoints.json> <pfx>');
const e = JSON.parse(readFileSync(endpointsFile, 'utf8')) as Endpoints;
const ca = readFileSync(e.caFile, 'utf8');
// Resolve the vault host names to the emulator; `all` is what Node's happy-eyeballs connect asks for.
const agent = new Agent({
  ca,
  lookup: (hostname, options, callback) => {
    const address = e.resolve[hostname] ?? '127.0.0.1';
    if (options.all) callback(null, [{ address, family: 4 }]);
    else callback(null, address, 4);
  },
});
const credential = new ClientSecretCredential(e.tenantID, e.admin.clientID, e.admin.clientSecret, {
  authorityHost: e.authorityHost,
  disableInstanceDiscovery: true,
  tlsOptions: { ca },
});
const [vaultUrl] = Object.values(e.vaults);
if (vaultUrl === undefined) throw new Error('no vault in endpoints.json');
const secrets = new SecretClient(vaultUrl, credential, { agent });
const certificates = new CertificateClient(vaultUrl, credential, { agent });

const set = await secrets.setSecret('from-script', 'script-value');
const read = await secrets.getSecret('from-script');
const created = await (await certificates.beginCreateCertificate('script-cert', { issuerName: 'Self', subject: 'CN=script' }, { intervalInMs: 100 })).pollUntilDone();
const imported = await certificates.importCertificate('script-import', readFileSync(pfxFile));
const certSecret = await secrets.getSecret('script-import');
const secretNames: string[] = [];
for await (const p of secrets.listPropertiesOfSecrets()) secretNames.push(p.name);
const certificateNames: string[] = [];
for await (const p of certificates.listPropertiesOfCertificates()) if (p.name !== undefined) certificateNames.push(p.name);
console.log(
  JSON.stringify({
    setVersion: set.properties.version,
    readMatches: read.value === 'script-value',
    createdVersion: created.properties.version,
    importedVersion: imported.properties.version,
    importedSecretContentType: certSecret.properties.contentType,
    secretNames: secretNames.sort(),
    certificateNames: certificateNames.sort(),
  }),
);
