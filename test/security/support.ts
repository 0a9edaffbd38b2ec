/**
 * Shared set-up of the security tests: an emulator with a tenant's vault and a vault the tenant must
 * never reach (with a shared node identity that may read both, as a kubelet identity often can), the
 * emulator's request counters per vault and KeyVaultIdentity helpers (kvsync's CLI runs through
 * channels.ts' runKvsync).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../src/api/index.ts';
import { startEmulator, type RunningEmulator } from '../../src/emulator/server.ts';

/** The tenant's vault, granted to the tenant's namespace. */
export const TENANT_VAULT = 'tenantakv';
/** Another team's vault: no test may ever see a request reach it. */
export const PAYROLL_VAULT = 'payrollkv';
export const TENANT_VALUE = 'tenant-value-7f3a';
export const PAYROLL_VALUE = 'payroll-salary-table-91c2';
/** A managed identity with read access to both vaults (the node's). */
export const NODE_IDENTITY = 'node-id';
/** Another managed identity the tenant is not granted. */
export const OTHER_IDENTITY = 'other-id';

export interface TwoVaultWorld {
  emu: RunningEmulator;
  stateDir: string;
  endpointsFile: string;
  clientIdOf(name: string): string;
  /** Requests the emulator counted for a vault (any operation, any status). */
  requestsTo(vault: string): number;
}

export async function startTwoVaultWorld(): Promise<TwoVaultWorld> {
  const stateDir = await mkdtemp(join(tmpdir(), 'kvsync-sec-emu-'));
  const emu = await startEmulator({
    stateDir,
    log: () => undefined,
    configDocument: {
      vaults: [
        { name: TENANT_VAULT, secrets: [{ name: 'app-secret', value: TENANT_VALUE }] },
        { name: PAYROLL_VAULT, secrets: [{ name: 'salary', value: PAYROLL_VALUE }] },
      ],
      managedIdentities: [{ name: NODE_IDENTITY }, { name: OTHER_IDENTITY }],
      imds: { identities: [NODE_IDENTITY, OTHER_IDENTITY] },
      roleAssignments: [
        { principal: NODE_IDENTITY, role: 'Key Vault Secrets User', vault: TENANT_VAULT },
        { principal: NODE_IDENTITY, role: 'Key Vault Secrets User', vault: PAYROLL_VAULT },
        { principal: OTHER_IDENTITY, role: 'Key Vault Secrets User', vault: PAYROLL_VAULT },
      ],
    },
  });
  return {
    emu,
    stateDir,
    endpointsFile: join(stateDir, 'endpoints.json'),
    clientIdOf(name) {
      const p = [...emu.config.servicePrincipals, ...emu.config.managedIdentities].find((x) => x.name === name);
      if (p === undefined) throw new Error(`no principal ${name}`);
      return p.clientId;
    },
    requestsTo(vault) {
      return emu.counters
        .list()
        .filter((c) => c.vault === vault)
        .reduce((n, c) => n + c.count, 0);
    },
  };
}

/** Creates a cluster-scoped KeyVaultIdentity (a unique name per test file). */
export async function createKeyVaultIdentity(kc: k8s.KubeConfig, name: string, spec: Record<string, unknown>): Promise<void> {
  await kc.makeApiClient(k8s.CustomObjectsApi).createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'keyvaultidentities',
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'KeyVaultIdentity', metadata: { name }, spec },
  });
}

export async function deleteKeyVaultIdentity(kc: k8s.KubeConfig, name: string): Promise<void> {
  await kc
    .makeApiClient(k8s.CustomObjectsApi)
    .deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultidentities', name })
    .catch(() => undefined);
}

/** A KeyVaultSync object as the apiserver would store it. */
export function keyVaultSyncObject(namespace: string, name: string, spec: Record<string, unknown>, uid = ''): Record<string, unknown> {
  return { apiVersion: `${GROUP}/${VERSION}`, kind: 'KeyVaultSync', metadata: { name, namespace, generation: 1, ...(uid === '' ? {} : { uid }) }, spec };
}
