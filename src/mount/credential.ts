/**
 * The credential of the sidecar: the POD's own identity, never the operator's, and no Kubernetes API.
 *
 * - workloadIdentity: `WorkloadIdentityCredential` over the projected ServiceAccount token the webhook
 *   mounts, from the standard environment azure-workload-identity sets: `AZURE_FEDERATED_TOKEN_FILE`,
 *   `AZURE_CLIENT_ID` (the spec's `clientID` wins), `AZURE_TENANT_ID` (the spec's `vault.tenantID`
 *   wins), `AZURE_AUTHORITY_HOST` (through the AzureEnvironment).
 * - podIdentity / managedIdentity: a token from IMDS (aad-pod-identity's NMI or the node's IMDS) at the
 *   environment's IMDS host, which honours `AZURE_POD_IDENTITY_AUTHORITY_HOST` and `--azure-endpoints`;
 *   client ID from the spec's `clientID`, else `AZURE_CLIENT_ID`, else the one identity IMDS serves.
 *   src/keyvault's ImdsCredential is used rather than ManagedIdentityCredential because the SDK one
 *   switches to workload identity by itself when AZURE_FEDERATED_TOKEN_FILE is set and reads its host
 *   only from process.env (see imds-credential.ts).
 * - servicePrincipal: refused; its client secret lives in a Kubernetes Secret the sidecar may not read.
 */
import { WorkloadIdentityCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/identity';
import { isGuid } from '../api/azure-ids.ts';
import type { ResolvedKeyVaultSync } from '../api/resolved.ts';
import { credentialOptions, requestTimeoutMs } from '../keyvault/azure-environment.ts';
import type { AzureEnvironment } from '../keyvault/azure-environment.ts';
import { ImdsCredential } from '../keyvault/imds-credential.ts';
import { BoundedCredential } from '../keyvault/request-deadline.ts';
import { MountError } from './errors.ts';

export interface PodCredential {
  credential: TokenCredential;
  /** What was chosen, for the log (no secrets): e.g. `workloadIdentity client 6f1d…`. */
  description: string;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/**
 * Refuses a client ID that is not a GUID before it is sent, never quoting it (Entra echoes client IDs
 * it does not know). The tenant comes from the validated spec (a workload identity spec needs one).
 */
function checkClientId(clientId: string | undefined): void {
  if (clientId !== undefined && !isGuid(clientId)) throw new MountError('InvalidSpec', 'the client ID (spec clientID or AZURE_CLIENT_ID) is not a GUID');
}

/**
 * @throws MountError InvalidSpec (a client ID that is not a GUID), IdentityUnavailable (workload identity without the token file, client ID or tenant)
 *   or IdentityNotSupported (servicePrincipal).
 */
export function podCredential(sync: ResolvedKeyVaultSync, env: AzureEnvironment, processEnv: NodeJS.ProcessEnv = process.env): PodCredential {
  const identity = sync.identity;
  switch (identity.mode) {
    case 'workloadIdentity': {
      const tokenFilePath = nonEmpty(processEnv.AZURE_FEDERATED_TOKEN_FILE);
      const clientId = identity.clientID ?? nonEmpty(processEnv.AZURE_CLIENT_ID);
      const tenantId = sync.vault.tenantID ?? nonEmpty(processEnv.AZURE_TENANT_ID) ?? env.defaultTenantId;
      const missing = [tokenFilePath === undefined ? 'AZURE_FEDERATED_TOKEN_FILE' : '', clientId === undefined ? 'AZURE_CLIENT_ID (or spec clientID)' : '', tenantId === undefined ? 'AZURE_TENANT_ID (or spec vault.tenantID)' : ''].filter((m) => m !== '');
      if (tokenFilePath === undefined || clientId === undefined || tenantId === undefined) {
        throw new MountError('IdentityUnavailable', `workload identity needs ${missing.join(', ')}: is the pod's ServiceAccount annotated with azure.workload.identity/client-id?`);
      }
      checkClientId(clientId);
      const options = credentialOptions(env, sync.vault.cloudName);
      const credential = new BoundedCredential(new WorkloadIdentityCredential({ tenantId, clientId, tokenFilePath, ...options }), requestTimeoutMs(env), `Microsoft Entra ID (${new URL(options.authorityHost).host})`);
      return { credential, description: `workloadIdentity client ${clientId} tenant ${tenantId}` };
    }
    case 'podIdentity':
    case 'managedIdentity': {
      const clientId = identity.clientID ?? nonEmpty(processEnv.AZURE_CLIENT_ID);
      checkClientId(clientId);
      return { credential: new BoundedCredential(new ImdsCredential({ host: env.imdsHost, clientId }), requestTimeoutMs(env), `IMDS (${env.imdsHost})`), description: `${identity.mode} via IMDS ${env.imdsHost}${clientId === undefined ? '' : ` client ${clientId}`}` };
    }
    case 'servicePrincipal':
      throw new MountError('IdentityNotSupported', 'kvsync mount uses the pod\'s own identity (workloadIdentity, podIdentity or managedIdentity); a servicePrincipal\'s secret lives in a Kubernetes Secret the sidecar does not read');
  }
}
