/** The production {@link SyncPipeline}: src/keyvault's CredentialProvider, fetchObjects and renderOutputs. */
import type { TokenCredential } from '@azure/core-auth';
import type * as k8s from '@kubernetes/client-node';
import type { ResolvedKeyVaultIdentity, ResolvedKeyVaultSync } from '../api/index.ts';
import type { AzureEnvironment } from '../keyvault/azure-environment.ts';
import { CredentialProvider } from '../keyvault/credentials.ts';
import { fetchObjects, type FetchedObject, type FetchResult } from '../keyvault/fetch.ts';
import { renderOutputs } from '../keyvault/outputs.ts';
import type { RenderedOutputs, SyncPipeline } from './pipeline.ts';

export class KeyVaultPipeline implements SyncPipeline {
  readonly #credentials: CredentialProvider;
  readonly #env: AzureEnvironment;

  constructor(kube: k8s.KubeConfig, env: AzureEnvironment) {
    this.#credentials = new CredentialProvider({ kube, env });
    this.#env = env;
  }

  credentialFor(sync: ResolvedKeyVaultSync, ctx: { namespace: string; identities: ResolvedKeyVaultIdentity[] }): Promise<{ credential: TokenCredential; identityKey: string }> {
    return this.#credentials.credentialFor(sync, ctx);
  }

  fetchObjects(sync: ResolvedKeyVaultSync, credential: TokenCredential): Promise<FetchResult> {
    return fetchObjects(sync, credential, this.#env);
  }

  renderOutputs(sync: ResolvedKeyVaultSync, fetched: FetchedObject[]): RenderedOutputs {
    return renderOutputs(sync, fetched);
  }
}
