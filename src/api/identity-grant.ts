/**
 * Whether a KeyVaultIdentity grants a namespace and a vault: the fence around shared pod / managed
 * identities (docs/identities.md). Pure functions; the controller supplies the namespace's labels.
 */
import type { KeyVaultIdentitySpec } from './keyvaultidentity-schema.ts';
import type { ResolvedKeyVaultIdentity } from './parse.ts';
import type { ResolvedVault } from './resolved.ts';
import { canonicalVaultUrl, VAULT_NAME_PATTERN, vaultUrlOfName } from './vault-url.ts';
import type { VaultHostPolicy } from './vault-url.ts';

type LabelSelector = NonNullable<KeyVaultIdentitySpec['allowedNamespaces']['selector']>;

/** metav1.LabelSelector semantics: all matchLabels and all matchExpressions hold; `{}` matches everything. */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(value!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** True when the namespace is named in allowedNamespaces.names or matched by its selector. */
export function grantsNamespace(spec: KeyVaultIdentitySpec, namespace: { name: string; labels: Readonly<Record<string, string>> }): boolean {
  const { names, selector } = spec.allowedNamespaces;
  if (names?.includes(namespace.name) === true) return true;
  return selector !== undefined && selectorMatches(selector, namespace.labels);
}

/**
 * True when allowedVaults holds "*", or an entry that is the same vault: a URL whose canonical form
 * (vault-url.ts, emulator port applied) is the vault's canonical URL, or a bare name, which means
 * `https://<name>.<Key Vault suffix of the vault's cloud>`. The vault's own name in the spec plays no
 * part: only its canonical URL, where the requests go, is compared.
 */
export function grantsVault(spec: KeyVaultIdentitySpec, vault: Pick<ResolvedVault, 'url' | 'cloudName'>, policy: VaultHostPolicy): boolean {
  return spec.allowedVaults.some((entry) => {
    if (entry === '*') return true;
    if (entry.includes('://')) {
      const c = canonicalVaultUrl(entry, policy);
      return c.ok && c.url === vault.url;
    }
    return VAULT_NAME_PATTERN.test(entry) && vaultUrlOfName(entry, vault.cloudName, policy) === vault.url;
  });
}

/** What a pod or managed identity KeyVaultSync asks for. */
export interface SharedIdentityRequest {
  mode: 'podIdentity' | 'managedIdentity';
  /** The client ID the spec names (CSI `userAssignedIdentityID`/`clientID`), if any. */
  clientID: string | undefined;
}

/**
 * Why `identity` may not serve `request` for a KeyVaultSync of `namespace` reading `vault`, or
 * undefined when it may: the type must match, the namespace and the vault must be granted, and a
 * client ID the spec names must be the identity's own (else a granted identity would carry the
 * token request of another identity). The controller and the webhook both decide with this.
 */
export function sharedIdentityDenial(
  identity: ResolvedKeyVaultIdentity,
  request: SharedIdentityRequest,
  namespace: { name: string; labels: Readonly<Record<string, string>> },
  vault: Pick<ResolvedVault, 'url' | 'cloudName'>,
  policy: VaultHostPolicy,
): string | undefined {
  const name = identity.name ?? '';
  if (identity.spec.type !== request.mode) return `KeyVaultIdentity "${name}" is of type ${identity.spec.type}, not ${request.mode}`;
  if (!grantsNamespace(identity.spec, namespace)) return `KeyVaultIdentity "${name}" does not grant namespace "${namespace.name}"`;
  if (!grantsVault(identity.spec, vault, policy)) return `KeyVaultIdentity "${name}" does not grant vault ${vault.url} to namespace "${namespace.name}"`;
  if (request.clientID !== undefined && request.clientID.toLowerCase() !== identity.spec.clientID.toLowerCase()) {
    return `KeyVaultIdentity "${name}" is not the identity with client ID ${request.clientID} that the KeyVaultSync names`;
  }
  return undefined;
}
