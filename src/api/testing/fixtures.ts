/**
 * Shared test fixtures: a valid KeyVaultSync, a valid KeyVaultIdentity, a SecretProviderClass from
 * the Azure provider docs, and one violating spec per validation rule. Used by the unit tests (against
 * parseKeyVaultSync) and by the integration tests (against the real apiserver's CEL), so both sides
 * are held to the same cases.
 */
import { MSG } from '../cel-rules.ts';

export const TENANT = '00000000-0000-0000-0000-000000000000';
export const CLIENT_ID = '11111111-2222-3333-4444-555555555555';

type Spec = Record<string, unknown>;

/** The documented KeyVaultSync example (docs/api.md). */
export function designExampleSpec(): Spec {
  return {
    vault: { name: 'gebakv', tenantID: TENANT },
    identity: { workloadIdentity: { serviceAccountName: 'shop' } },
    objects: [
      { name: 'nginx', type: 'certificate' },
      { name: 'db-password', type: 'secret', alias: 'password', version: '', optional: false },
    ],
    secretObjects: [
      { secretName: 'shop-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'nginx' }] },
      { secretName: 'shop-db', type: 'Opaque', data: [{ objectName: 'password', key: 'DB_PASSWORD' }] },
    ],
    refreshInterval: '5m',
    restartTargets: [{ kind: 'Deployment', name: 'web' }],
  };
}

export function keyVaultSync(spec: Spec, name = 'example', namespace = 'shop'): Record<string, unknown> {
  return { apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name, namespace }, spec };
}

export function keyVaultIdentitySpec(): Spec {
  return { type: 'managedIdentity', clientID: CLIENT_ID, tenantID: TENANT, allowedNamespaces: { names: ['shop'] }, allowedVaults: ['gebakv'] };
}

export function keyVaultIdentity(spec: Spec, name = 'shared-kv-reader'): Record<string, unknown> {
  return { apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultIdentity', metadata: { name }, spec };
}

/**
 * A SecretProviderClass as the Azure provider documents it (workload identity, a secret, a key, a
 * certificate with its key fetched as objectType secret, and secretObjects incl. a TLS Secret).
 */
export function secretProviderClass(): Record<string, unknown> {
  return {
    apiVersion: 'secrets-store.csi.x-k8s.io/v1',
    kind: 'SecretProviderClass',
    metadata: { name: 'azure-kvname-wi', namespace: 'shop' },
    spec: {
      provider: 'azure',
      secretObjects: [
        { secretName: 'foosecret', type: 'Opaque', labels: { environment: 'test' }, data: [{ objectName: 'secretalias', key: 'username' }] },
        {
          secretName: 'ingress-tls-csi',
          type: 'kubernetes.io/tls',
          data: [
            { objectName: 'ingresscert', key: 'tls.key' },
            { objectName: 'ingresscert', key: 'tls.crt' },
          ],
        },
      ],
      parameters: {
        usePodIdentity: 'false',
        clientID: CLIENT_ID,
        keyvaultName: 'kvname',
        cloudName: '',
        objects: [
          'array:',
          '  - |',
          '    objectName: secret1',
          '    objectType: secret',
          '    objectAlias: secretalias',
          '    objectVersion: ""',
          '  - |',
          '    objectName: key1',
          '    objectType: key',
          '    objectVersion: ""',
          '  - |',
          '    objectName: ingresscert',
          '    objectType: secret',
          '    filePermission: 0600',
          '',
        ].join('\n'),
        tenantId: TENANT,
      },
    },
  };
}

/** Turns a SecretProviderClass into a KeyVaultSync by changing apiVersion and kind, nothing else. */
export function migrate(spc: Record<string, unknown>): Record<string, unknown> {
  return { ...spc, apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync' };
}

export interface RuleCase {
  rule: string;
  /** The CEL message the apiserver and the parser report. */
  message: string;
  /** Field path the violation is reported at. */
  path: string;
  spec: Spec;
}

function withChanges(change: (s: Spec) => void): Spec {
  const s = designExampleSpec();
  change(s);
  return s;
}

/** One violating KeyVaultSync spec per KeyVaultSync rule. */
export const KEY_VAULT_SYNC_RULE_CASES: readonly RuleCase[] = [
  { rule: 'vault-required', message: MSG.vaultRequired, path: 'spec', spec: withChanges((s) => (s.vault = { tenantID: TENANT })) },
  {
    rule: 'vault-name-matches-url',
    message: MSG.vaultNameMatchesUrl,
    path: 'spec.vault',
    spec: withChanges((s) => (s.vault = { name: 'tenantakv', url: 'https://payrollkv.vault.azure.net', tenantID: TENANT })),
  },
  { rule: 'tenant-required', message: MSG.tenantRequired, path: 'spec', spec: withChanges((s) => (s.vault = { name: 'gebakv' })) },
  {
    rule: 'identity-exactly-one',
    message: MSG.identityExactlyOne,
    path: 'spec.identity',
    spec: withChanges((s) => (s.identity = { workloadIdentity: { serviceAccountName: 'shop' }, servicePrincipal: { secretRef: { name: 'kv-creds' } } })),
  },
  {
    rule: 'object-output-names-unique',
    message: MSG.outputNamesUnique,
    path: 'spec.objects',
    spec: withChanges((s) => (s.objects as Spec[]).push({ name: 'other', alias: 'password' })),
  },
  { rule: 'object-encoding', message: MSG.encodingOnlySecret, path: 'spec.objects[0]', spec: withChanges((s) => ((s.objects as Spec[])[0]!.encoding = 'base64')) },
  { rule: 'object-format', message: MSG.pfxOnlyCertificate, path: 'spec.objects[2]', spec: withChanges((s) => (s.objects as Spec[]).push({ name: 'pub', type: 'cert', format: 'pfx' })) },
  { rule: 'object-split', message: MSG.splitOnlySecret, path: 'spec.objects[0]', spec: withChanges((s) => ((s.objects as Spec[])[0]!.split = 'json')) },
  {
    rule: 'secret-refs-exist',
    message: MSG.secretRefsExist,
    path: 'spec',
    spec: withChanges((s) => ((s.secretObjects as Spec[])[1]!.data = [{ objectName: 'nosuch', key: 'X' }])),
  },
  {
    rule: 'tls-needs-certificate',
    message: MSG.tlsNeedsCertificate,
    path: 'spec',
    spec: withChanges((s) => ((s.secretObjects as Spec[])[0]!.data = [{ objectName: 'password', key: 'tls.crt' }])),
  },
  {
    rule: 'configmap-refs',
    message: MSG.configMapRefs,
    path: 'spec',
    spec: withChanges((s) => (s.configMapObjects = [{ configMapName: 'public', data: [{ objectName: 'password' }] }])),
  },
  {
    rule: 'tls-options-only-tls',
    message: MSG.tlsOptionsOnlyTls,
    path: 'spec.secretObjects[1]',
    spec: withChanges((s) => ((s.secretObjects as Spec[])[1]!.caCert = true)),
  },
  {
    rule: 'secret-type-not-protected',
    message: MSG.secretTypeProtected,
    path: 'spec.secretObjects[1].type',
    spec: withChanges((s) => ((s.secretObjects as Spec[])[1]!.type = 'Kubernetes.io/Service-Account-Token')),
  },
  {
    rule: 'secret-data-keys-unique',
    message: MSG.dataKeysUnique,
    path: 'spec.secretObjects[1]',
    spec: withChanges((s) => ((s.secretObjects as Spec[])[1]!.data = [{ objectName: 'password', key: 'A' }, { objectName: 'nginx', key: 'A' }])),
  },
  {
    rule: 'secret-data-or-templates',
    message: MSG.dataOrTemplates,
    path: 'spec.secretObjects[1]',
    spec: withChanges((s) => delete (s.secretObjects as Spec[])[1]!.data),
  },
  {
    rule: 'secret-template-keys-unique',
    message: MSG.templateKeysUnique,
    path: 'spec.secretObjects[1]',
    spec: withChanges((s) => ((s.secretObjects as Spec[])[1]!.templates = [{ key: 'DB_PASSWORD', template: 'pw={{ password }}' }])),
  },
  {
    rule: 'select-only-opaque',
    message: MSG.selectOnlyOpaque,
    path: 'spec.secretObjects[0]',
    spec: withChanges((s) => ((s.secretObjects as Spec[])[0]!.select = [{ namePattern: 'app-*' }])),
  },
  {
    rule: 'selector-criteria',
    message: MSG.selectorCriteria,
    path: 'spec.secretObjects[1].select[0]',
    spec: withChanges((s) => ((s.secretObjects as Spec[])[1]!.select = [{ keyPrefix: 'app.' }])),
  },
  {
    rule: 'configmap-data-keys-unique',
    message: MSG.dataKeysUnique,
    path: 'spec.configMapObjects[0]',
    spec: withChanges((s) => (s.configMapObjects = [{ configMapName: 'public', data: [{ objectName: 'nginx', key: 'ca.crt' }, { objectName: 'nginx', key: 'ca.crt' }] }])),
  },
  {
    rule: 'restart-target-name-xor-selector',
    message: MSG.restartTargetNameXorSelector,
    path: 'spec.restartTargets[0]',
    spec: withChanges((s) => (s.restartTargets = [{ kind: 'Deployment', name: 'web', selector: { matchLabels: { app: 'web' } } }])),
  },
  { rule: 'refresh-interval-minimum', message: MSG.refreshInterval, path: 'spec.refreshInterval', spec: withChanges((s) => (s.refreshInterval = '500ms')) },
];

/** One violating KeyVaultIdentity spec per KeyVaultIdentity rule. */
export const KEY_VAULT_IDENTITY_RULE_CASES: readonly RuleCase[] = [
  { rule: 'namespaces-grant', message: MSG.namespacesGrant, path: 'spec.allowedNamespaces', spec: { ...keyVaultIdentitySpec(), allowedNamespaces: {} } },
];
