/**
 * `endpoints.json`, the file `kvsync emulator --state-dir DIR` writes for clients (DESIGN.md §3).
 */
import { readFile } from 'node:fs/promises';

export interface EmulatorEndpoints {
  tenantID: string;
  /** Path of the per-run CA (PEM) that signed the emulator's server certificate. */
  caFile: string;
  /** `https://127.0.0.1:PORT`: Entra ID (`AZURE_AUTHORITY_HOST`). */
  authorityHost: string;
  /** `http://127.0.0.1:PORT2`: IMDS, suitable for `AZURE_POD_IDENTITY_AUTHORITY_HOST`. */
  imdsEndpoint: string;
  /** `https://127.0.0.1:PORT/admin` */
  adminUrl: string;
  /** Vault name → `https://<name>.vault.azure.net:PORT`. */
  vaults: Record<string, string>;
  /** Host name → IP the client must connect to (the vault host names are not in DNS). */
  resolve: Record<string, string>;
  /** A service principal holding Key Vault Administrator on every vault. */
  admin: { clientID: string; clientSecret: string };
}

export class EndpointsFileError extends Error {
  readonly reason = 'InvalidEndpointsFile';
  constructor(message: string) {
    super(message);
    this.name = 'EndpointsFileError';
  }
}

/** Reads and checks an endpoints.json. */
export async function readEndpointsFile(file: string): Promise<EmulatorEndpoints> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new EndpointsFileError(`cannot read endpoints file ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const e = doc as Partial<EmulatorEndpoints>;
  for (const key of ['tenantID', 'caFile', 'authorityHost', 'imdsEndpoint', 'adminUrl'] as const) {
    if (typeof e[key] !== 'string') throw new EndpointsFileError(`endpoints file ${file}: "${key}" must be a string`);
  }
  if (typeof e.vaults !== 'object' || e.vaults === null || typeof e.resolve !== 'object' || e.resolve === null) {
    throw new EndpointsFileError(`endpoints file ${file}: "vaults" and "resolve" must be maps`);
  }
  if (typeof e.admin?.clientID !== 'string' || typeof e.admin.clientSecret !== 'string') throw new EndpointsFileError(`endpoints file ${file}: "admin" must have clientID and clientSecret`);
  return e as EmulatorEndpoints;
}
