/**
 * Object IDs of configured principals. The config may omit `objectId`; both the identity side (the `oid`
 * claim) and the Key Vault side (role assignments) must then derive the same one, so they share this
 * function.
 */
import { createHash } from 'node:crypto';

/** `principal.objectId`, or a stable UUID derived from the client ID (same input, same UUID, every run). */
export function objectIdOf(principal: { clientId: string; objectId?: string | undefined }): string {
  if (principal.objectId !== undefined && principal.objectId !== '') {
    return principal.objectId;
  }
  const hex = createHash('sha256').update(`kvsync-emulator/object-id/${principal.clientId.toLowerCase()}`).digest('hex');
  // Shape it as an RFC 9562 version-8 (custom) UUID so it looks like the GUIDs Azure uses.
  const variant = ((parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Client IDs and object IDs are GUIDs, compared case-insensitively as Azure does. */
export function sameId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
