/**
 * Whether a KeyVaultIdentity grants a namespace and a vault: the fence around shared pod / managed
 * identities (DESIGN.md §1). Pure functions; the controller supplies the namespace's labels.
 */
import type { KeyVaultIdentitySpec } from './keyvaultidentity-schema.ts';
import type { ResolvedVault } from './resolved.ts';

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

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * True when allowedVaults holds "*", the vault's name (case-insensitive), or a URL with the vault
 * URL's host (and port).
 */
export function grantsVault(spec: KeyVaultIdentitySpec, vault: Pick<ResolvedVault, 'name' | 'url'>): boolean {
  const host = hostOf(vault.url);
  return spec.allowedVaults.some((entry) => {
    if (entry === '*') return true;
    if (entry.startsWith('https://')) return host !== undefined && hostOf(entry) === host;
    return vault.name !== undefined && entry.toLowerCase() === vault.name.toLowerCase();
  });
}
