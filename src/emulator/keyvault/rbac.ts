/**
 * Azure RBAC for the Key Vault data plane: built-in role definitions (their data actions, with `*`
 * wildcards as Azure writes them) and the check "may principal P perform action A on object O of vault V".
 */

/** Built-in Key Vault data-plane roles the emulator knows. */
export const ROLE_NAMES = [
  'Key Vault Administrator',
  'Key Vault Reader',
  'Key Vault Secrets User',
  'Key Vault Secrets Officer',
  'Key Vault Certificate User',
  'Key Vault Certificates Officer',
  'Key Vault Crypto User',
  'Key Vault Crypto Officer',
] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

const P = 'Microsoft.KeyVault/vaults';

/** Data actions per role (from the Azure built-in role definitions). */
const ROLE_DATA_ACTIONS: Record<RoleName, string[]> = {
  'Key Vault Administrator': [`${P}/*`],
  'Key Vault Reader': [`${P}/*/read`, `${P}/secrets/readMetadata/action`],
  'Key Vault Secrets User': [`${P}/secrets/getSecret/action`, `${P}/secrets/readMetadata/action`],
  'Key Vault Secrets Officer': [`${P}/secrets/*`],
  'Key Vault Certificate User': [`${P}/certificates/read`, `${P}/secrets/getSecret/action`, `${P}/secrets/readMetadata/action`, `${P}/keys/read`],
  'Key Vault Certificates Officer': [
    `${P}/certificatecas/*`,
    `${P}/certificates/*`,
    `${P}/certificatecontacts/write`,
    `${P}/secrets/getSecret/action`,
    `${P}/secrets/readMetadata/action`,
    `${P}/keys/read`,
  ],
  'Key Vault Crypto User': [`${P}/keys/read`, `${P}/keys/update/action`, `${P}/keys/backup/action`, `${P}/keys/encrypt/action`, `${P}/keys/decrypt/action`, `${P}/keys/sign/action`, `${P}/keys/verify/action`],
  'Key Vault Crypto Officer': [`${P}/keys/*`, `${P}/keyrotationpolicies/*`],
};

/** Data action names used by the data plane (full `Microsoft.KeyVault/vaults/...` strings). */
export const DataAction = {
  secretGet: `${P}/secrets/getSecret/action`,
  secretReadMetadata: `${P}/secrets/readMetadata/action`,
  secretSet: `${P}/secrets/setSecret/action`,
  secretUpdate: `${P}/secrets/update/action`,
  secretDelete: `${P}/secrets/delete`,
  secretRecover: `${P}/secrets/recover/action`,
  secretPurge: `${P}/secrets/purge/action`,
  deletedSecretRead: `${P}/deletedsecrets/read`,
  certificateRead: `${P}/certificates/read`,
  certificateCreate: `${P}/certificates/create/action`,
  certificateImport: `${P}/certificates/import/action`,
  certificateUpdate: `${P}/certificates/update/action`,
  certificateDelete: `${P}/certificates/delete`,
  certificateRecover: `${P}/certificates/recover/action`,
  certificatePurge: `${P}/certificates/purge/action`,
  keyRead: `${P}/keys/read`,
  keyCreate: `${P}/keys/create/action`,
  keyDelete: `${P}/keys/delete`,
} as const;

function matches(pattern: string, action: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('[^]*')}$`, 'i');
  return re.test(action);
}

export function roleAllows(role: RoleName, action: string): boolean {
  return ROLE_DATA_ACTIONS[role].some((p) => matches(p, action));
}

export interface RoleAssignment {
  principalObjectId: string;
  role: RoleName;
  /** Vault name or `*`. */
  vault: string;
  /** `secrets/<name>` etc.; absent = the whole vault. */
  scope?: string;
}

/**
 * True when some assignment of `objectId` on `vault` (whole vault, or one of `objectScopes`) grants
 * `action`. Object-scoped assignments never grant list operations (those pass no object scope). A
 * certificate's managed secret and key are also covered by a `certificates/<name>` assignment.
 */
export function isAuthorized(assignments: readonly RoleAssignment[], objectId: string, vault: string, action: string, objectScopes: readonly string[]): boolean {
  const scopes = objectScopes.map((s) => s.toLowerCase());
  return assignments.some(
    (a) =>
      a.principalObjectId === objectId &&
      (a.vault === '*' || a.vault === vault) &&
      (a.scope === undefined || scopes.includes(a.scope.toLowerCase())) &&
      roleAllows(a.role, action),
  );
}
