/**
 * The KeyVaultIdentity schema (kvsync.dev/v1alpha1, cluster-scoped): a shared pod or managed
 * identity and the namespaces and vaults allowed to use it. KeyVaultSyncs in podIdentity or
 * managedIdentity mode must reference one that grants them; cluster admins own these objects.
 */
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { identityCelAt } from './cel-rules.ts';
import { Guid, LabelSelector, ObjectName, StringEnum, TenantId } from './schema-helpers.ts';
import { VAULT_URL_PATTERN } from './vault-url.ts';

export const IDENTITY_TYPES = ['podIdentity', 'managedIdentity'] as const;
export type IdentityType = (typeof IDENTITY_TYPES)[number];

export const KeyVaultIdentitySpecSchema = Type.Object(
  {
    type: StringEnum(IDENTITY_TYPES, {
      description: 'podIdentity: token from the aad-pod-identity NMI (AZURE_POD_IDENTITY_AUTHORITY_HOST); managedIdentity: token from the VM / kubelet IMDS.',
    }),
    clientID: Guid('Client ID of the user-assigned managed identity.'),
    resourceID: Type.Optional(
      Type.String({
        description: 'ARM resource ID of the managed identity (/subscriptions/.../userAssignedIdentities/<name>), used instead of the client ID where IMDS needs it.',
        maxLength: 1024,
        pattern: '^/subscriptions/[^/]+/resource[gG]roups/[^/]+/providers/[^/]+/[^/]+/[^/]+$',
      }),
    ),
    tenantID: TenantId('Entra tenant of the identity.'),
    allowedNamespaces: Type.Object(
      {
        names: Type.Optional(
          Type.Array(ObjectName('A namespace name.', { maxLength: 63 }), { maxItems: 256, description: 'Namespaces allowed by name.', 'x-kubernetes-list-type': 'set' }),
        ),
        selector: Type.Optional(LabelSelector('Namespaces allowed by label; an empty selector ({}) allows every namespace.')),
      },
      { description: 'Namespaces whose KeyVaultSyncs may use this identity: those named, plus those the selector matches.', 'x-kubernetes-validations': identityCelAt('spec.allowedNamespaces') },
    ),
    allowedVaults: Type.Array(
      Type.String({
        description: 'A vault URL (https://host[:port], compared with the canonical URL of the KeyVaultSync\'s vault), a vault name (https://<name>.<Key Vault DNS suffix of the KeyVaultSync\'s cloud>), or "*" for any vault.',
        minLength: 1,
        maxLength: 512,
        pattern: `^(\\*|[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]|${VAULT_URL_PATTERN.slice(1, -1)})$`,
      }),
      { minItems: 1, maxItems: 64, description: 'Vaults this identity may be used for.', 'x-kubernetes-list-type': 'set' },
    ),
  },
  { description: 'A shared identity and who may use it.' },
);

export type KeyVaultIdentitySpec = Static<typeof KeyVaultIdentitySpecSchema>;
