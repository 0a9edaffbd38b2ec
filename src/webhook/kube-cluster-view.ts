/**
 * The {@link ClusterView} on the Kubernetes API: reads the KeyVaultSync, ServiceAccount and Namespace
 * an admission needs, directly from the apiserver (no cache: a webhook call is rare next to a
 * reconcile, and a just-created KeyVaultSync must be visible). The controller may pass a view on its
 * informer caches instead.
 *
 * RBAC: get on keyvaultsyncs.kvsync.dev, keyvaultidentities.kvsync.dev, serviceaccounts, secrets (their
 * ownership metadata) and namespaces.
 */
import * as k8s from '@kubernetes/client-node';
import { AZURE_VAULT_HOSTS_ONLY, GROUP, parseKeyVaultIdentity, parseKeyVaultSync, VERSION } from '../api/index.ts';
import type { VaultHostPolicy } from '../api/index.ts';
import type { ClusterView, KeyVaultIdentityLookup, KeyVaultSyncLookup, SecretOwnershipView } from './mutate-pod.ts';

/** A ClusterView that also knows namespace labels (for the opt-in check). */
export interface AdmissionClusterView extends ClusterView {
  getNamespaceLabels(namespace: string): Promise<Record<string, string>>;
}

function isNotFound(err: unknown): boolean {
  return err instanceof k8s.ApiException && err.code === 404;
}

/** What the webhook makes of a stored KeyVaultSync: resolved with the operator's vault host policy, as in the controller. */
export function keyVaultSyncLookup(obj: unknown, vaults: VaultHostPolicy): KeyVaultSyncLookup {
  const parsed = parseKeyVaultSync(obj, vaults);
  return parsed.ok ? { kind: 'found', sync: parsed.value, object: obj } : { kind: 'invalid', message: parsed.error.message };
}

/** `vaults`: the operator's vault host policy, so a KeyVaultSync resolves here as in the controller. */
export function kubeClusterView(kc: k8s.KubeConfig, vaults: VaultHostPolicy = AZURE_VAULT_HOSTS_ONLY): AdmissionClusterView {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return {
    async getKeyVaultSync(namespace: string, name: string): Promise<KeyVaultSyncLookup> {
      let obj: unknown;
      try {
        obj = await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'keyvaultsyncs', name });
      } catch (err) {
        if (isNotFound(err)) return { kind: 'missing' };
        throw err;
      }
      return keyVaultSyncLookup(obj, vaults);
    },
    async getKeyVaultIdentity(name: string): Promise<KeyVaultIdentityLookup> {
      let obj: unknown;
      try {
        obj = await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultidentities', name });
      } catch (err) {
        if (isNotFound(err)) return { kind: 'missing' };
        throw err;
      }
      const parsed = parseKeyVaultIdentity(obj);
      return parsed.ok ? { kind: 'found', identity: parsed.value } : { kind: 'invalid', message: parsed.error.message };
    },
    async getServiceAccountAnnotations(namespace: string, name: string): Promise<Record<string, string> | undefined> {
      try {
        const sa = await core.readNamespacedServiceAccount({ namespace, name });
        return sa.metadata?.annotations ?? {};
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async getSecretOwnership(namespace: string, name: string): Promise<SecretOwnershipView | undefined> {
      try {
        const secret = await core.readNamespacedSecret({ namespace, name });
        // Only what proves ownership leaves this function; the data is dropped here.
        return { metadata: { annotations: secret.metadata?.annotations, ownerReferences: secret.metadata?.ownerReferences }, type: secret.type };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async getNamespaceLabels(namespace: string): Promise<Record<string, string>> {
      const ns = await core.readNamespace({ name: namespace });
      return ns.metadata?.labels ?? {};
    },
  };
}
