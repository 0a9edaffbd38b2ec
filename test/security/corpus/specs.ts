/** Hostile KeyVaultSync specs: input is the `spec` (namespace and name are the runner's). */
import type { CorpusCase } from './types.ts';

const TENANT = '00000000-0000-0000-0000-000000000000';
const base = { identity: { workloadIdentity: { serviceAccountName: 'app' } }, objects: [{ name: 'db' }], secretObjects: [{ secretName: 'hostile-out', data: [{ objectName: 'db' }] }] };
const spec = (vault: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ ...base, vault: { tenantID: TENANT, ...vault }, ...extra });

export const cases: CorpusCase[] = [
  { name: 'name of one vault, URL of another', kind: 'spec', input: spec({ name: 'tenantakv', url: 'https://payrollkv.vault.azure.net' }), reason: 'InvalidSpec', detail: 'spec.vault.url must be the URL of the vault' },
  { name: 'CSI keyvaultName of one vault, URL of another', kind: 'spec', input: spec({ url: 'https://payrollkv.vault.azure.net' }, { parameters: { keyvaultName: 'tenantakv' } }), reason: 'InvalidSpec', detail: 'not the vault "tenantakv"' },
  { name: 'https://% (malformed URL)', kind: 'spec', input: spec({ url: 'https://%' }), reason: 'InvalidSpec', detail: 'spec.vault.url' },
  { name: 'user info smuggling another host', kind: 'spec', input: spec({ url: 'https://tenantakv.vault.azure.net@payrollkv.vault.azure.net' }), reason: 'InvalidSpec', detail: 'spec.vault.url' },
  { name: 'cloud metadata address as vault', kind: 'spec', input: spec({ url: 'https://169.254.169.254' }), reason: 'InvalidSpec', detail: 'is not an Azure Key Vault host' },
  { name: 'internal service as vault', kind: 'spec', input: spec({ url: 'https://kubernetes.default.svc' }), reason: 'InvalidSpec', detail: 'is not an Azure Key Vault host' },
  { name: 'Azure host on another port', kind: 'spec', input: spec({ url: 'https://tenantakv.vault.azure.net:8443' }), reason: 'InvalidSpec', detail: 'is not an Azure Key Vault host' },
  { name: 'trailing-dot host', kind: 'spec', input: spec({ url: 'https://tenantakv.vault.azure.net.' }), reason: 'InvalidSpec', detail: 'spec.vault.url' },
  { name: 'cloudName contradicting the URL', kind: 'spec', input: spec({ url: 'https://tenantakv.vault.azure.cn', cloudName: 'AzurePublicCloud' }), reason: 'InvalidSpec', detail: 'spec.vault.cloudName' },
  { name: 'data key ".."', kind: 'spec', input: spec({ name: 'tenantakv' }, { secretObjects: [{ secretName: 'hostile-out', data: [{ objectName: 'db', key: '..' }] }] }), reason: 'InvalidSpec', detail: 'spec.secretObjects[0].data[0].key' },
  { name: 'data key of 300 characters', kind: 'spec', input: spec({ name: 'tenantakv' }, { secretObjects: [{ secretName: 'hostile-out', data: [{ objectName: 'db', key: 'k'.repeat(300) }] }] }), reason: 'InvalidSpec', detail: 'spec.secretObjects[0].data[0].key' },
  { name: 'invalid label key on the output', kind: 'spec', input: spec({ name: 'tenantakv' }, { secretObjects: [{ secretName: 'hostile-out', labels: { 'bad key': 'x' }, data: [{ objectName: 'db' }] }] }), reason: 'InvalidSpec', detail: 'spec.secretObjects[0].labels' },
  { name: 'CSI objects YAML bomb (aliases)', kind: 'spec', input: spec({ name: 'tenantakv' }, { objects: [], secretObjects: [], parameters: { objects: `a: &a ["x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c]\narray: [*d,*d,*d,*d,*d,*d,*d,*d]` } }), reason: 'InvalidSpec', detail: 'spec.parameters.objects' },
  { name: 'CSI objects not YAML', kind: 'spec', input: spec({ name: 'tenantakv' }, { objects: [], secretObjects: [], parameters: { objects: 'array: [\n  - {{{' } }), reason: 'InvalidSpec', detail: 'spec.parameters.objects' },
];
