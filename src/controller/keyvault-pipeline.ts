/** The production {@link SyncPipeline}: src/keyvault's CredentialProvider, fetchObjects and renderOutputs. */
import type { TokenCredential } from '@azure/core-auth';
import type * as k8s from '@kubernetes/client-node';
import type { ResolvedKeyVaultIdentity, ResolvedKeyVaultSync, ResolvedObject } from '../api/index.ts';
import type { AzureEnvironment } from '../keyvault/azure-environment.ts';
import { CredentialProvider } from '../keyvault/credentials.ts';
import { fetchObjects, type FetchedObject, type FetchedVersion, type FetchResult } from '../keyvault/fetch.ts';
import { ObjectCache, type ObjectCacheOptions } from '../keyvault/object-cache.ts';
import { renderOutputs } from '../keyvault/outputs.ts';
import { listEnabledVersions, type ObjectVersion } from '../keyvault/versions.ts';
import type { RenderedOutputs, SyncPipeline } from './pipeline.ts';

const MAX_TRACKED_SYNCS = 100_000;

export interface KeyVaultPipelineOptions {
  /** The shared object cache (one read per vault, object, version and identity); see docs/operator.md. */
  objectCache?: ObjectCacheOptions;
}

export class KeyVaultPipeline implements SyncPipeline {
  readonly #credentials: CredentialProvider;
  readonly #env: AzureEnvironment;
  readonly #objects: ObjectCache<FetchedVersion>;
  /** The identity key of each credential handed out (CredentialProvider keeps one credential per key). */
  readonly #identityKeys = new WeakMap<TokenCredential, string>();
  /**
   * When each KeyVaultSync's last fetch ended (object-cache clock): its next fetch uses only reads
   * started after that, so a refresh or force-sync never gets the read its previous fetch got.
   */
  readonly #lastFetchEnd = new Map<string, number>();

  constructor(kube: k8s.KubeConfig, env: AzureEnvironment, opts: KeyVaultPipelineOptions = {}) {
    this.#credentials = new CredentialProvider({ kube, env });
    this.#env = env;
    this.#objects = new ObjectCache(opts.objectCache);
  }

  async credentialFor(sync: ResolvedKeyVaultSync, ctx: { namespace: string; identities: ResolvedKeyVaultIdentity[] }): Promise<{ credential: TokenCredential; identityKey: string }> {
    const result = await this.#credentials.credentialFor(sync, ctx);
    this.#identityKeys.set(result.credential, result.identityKey);
    return result;
  }

  async fetchObjects(sync: ResolvedKeyVaultSync, credential: TokenCredential): Promise<FetchResult> {
    const identityKey = this.#identityKeys.get(credential);
    // A credential this pipeline did not hand out has no known identity: no sharing for it.
    if (identityKey === undefined) return fetchObjects(sync, credential, this.#env);
    const syncKey = `${sync.namespace ?? ''}/${sync.name ?? ''}`;
    const notReadBefore = this.#lastFetchEnd.get(syncKey);
    try {
      return await fetchObjects(sync, credential, this.#env, { cache: { objects: this.#objects, identityKey, ...(notReadBefore === undefined ? {} : { notReadBefore }) } });
    } finally {
      this.#lastFetchEnd.delete(syncKey);
      this.#lastFetchEnd.set(syncKey, this.#objects.now());
      // Bounded: the oldest KeyVaultSyncs (most likely deleted) are forgotten first.
      for (const oldest of this.#lastFetchEnd.keys()) {
        if (this.#lastFetchEnd.size <= MAX_TRACKED_SYNCS) break;
        this.#lastFetchEnd.delete(oldest);
      }
    }
  }

  renderOutputs(sync: ResolvedKeyVaultSync, fetched: FetchedObject[]): RenderedOutputs {
    return renderOutputs(sync, fetched);
  }

  /** One paged listing of the object's enabled versions (never cached: it runs rarely, see CertificateWatch). */
  listVersions(sync: ResolvedKeyVaultSync, credential: TokenCredential, object: ResolvedObject): Promise<ObjectVersion[]> {
    return listEnabledVersions(sync, credential, this.#env, object);
  }
}
