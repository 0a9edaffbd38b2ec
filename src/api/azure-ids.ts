/**
 * The shapes of Entra identifiers kvsync passes to Azure: client IDs are GUIDs, tenants are GUIDs or
 * verified domain names. Anything else is refused before it is sent, with a message that names where
 * it came from and never repeats it: a "client ID" read from the wrong key of a Secret may be a
 * password, and Entra echoes what it was sent in its error messages.
 */

/** A GUID such as an Entra client ID (any case). */
export const GUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
/** An Entra tenant: a GUID or a verified domain name (the Azure SDK accepts both). */
export const TENANT_PATTERN = '^[0-9a-zA-Z][0-9a-zA-Z.-]*$';
export const TENANT_MAX_LENGTH = 253;

const GUID = new RegExp(GUID_PATTERN);
const TENANT = new RegExp(TENANT_PATTERN);

export function isGuid(value: string): boolean {
  return GUID.test(value);
}

export function isTenantId(value: string): boolean {
  return value.length <= TENANT_MAX_LENGTH && TENANT.test(value);
}
