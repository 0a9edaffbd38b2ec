/**
 * The Key Vault data-plane route table: method + path → SDK-style operation name, the RBAC data
 * action it needs, the object scopes an object-level role assignment may match, and what to run.
 * "Latest" is addressed with an empty version (`/secrets/a/`, as the SDKs send it) or no version.
 */
import { KeyVaultError } from '../errors.ts';
import { DataAction } from './rbac.ts';
import type { Vault } from './vault.ts';
import type { Json } from './wire.ts';

export interface RouteResult {
  status: number;
  body?: Json;
  headers?: Record<string, string>;
}

export interface Route {
  operation: string;
  action: string;
  /** Object scopes (`secrets/x`, `certificates/x`) for object-level role assignments; empty for lists. */
  scopes: string[];
  /** Whether the operation reads a JSON request body. */
  hasBody: boolean;
  /** Whether the response carries a secret value (disabled secrets → 403 happens inside). */
  run: (vault: Vault, base: string, url: URL, body: Record<string, unknown>) => Promise<RouteResult> | RouteResult;
}

const ok = (body: Json): RouteResult => ({ status: 200, body });
/** What Key Vault answers a create and an `inProgress` poll with (seconds). */
const PENDING_RETRY_AFTER = '10';
const noContent: RouteResult = { status: 204 };

/** Returns the route for a request, or throws Key Vault's 404/405 for unknown paths. */
export function matchRoute(method: string, pathname: string): Route {
  const raw = pathname.split('/').slice(1);
  let segs: string[];
  try {
    segs = raw.map((s) => decodeURIComponent(s));
  } catch {
    throw new KeyVaultError(400, 'BadParameter', 'The request URI is not valid.');
  }
  // "/secrets/a/" (latest, as the SDK sends it) is the same as "/secrets/a".
  if (segs.length > 2 && segs.at(-1) === '') segs = segs.slice(0, -1);
  if (segs.length === 2 && segs[1] === '') segs = segs.slice(0, 1);
  const [collection, name, third, fourth] = segs;
  const n = segs.length;
  const route = pick(method, collection ?? '', name ?? '', third, fourth, n);
  if (route === undefined) throw new KeyVaultError(404, 'NotFound', `The requested resource '${pathname}' does not exist or the method ${method} is not supported.`);
  return route;
}

function pick(method: string, collection: string, name: string, third: string | undefined, fourth: string | undefined, n: number): Route | undefined {
  const sec = [`secrets/${name}`, `certificates/${name}`];
  const cert = [`certificates/${name}`];
  const key = [`keys/${name}`, `certificates/${name}`];
  const version = third === '' ? undefined : third;
  switch (collection) {
    case 'secrets':
      if (n === 1 && method === 'GET') return { operation: 'listSecrets', action: DataAction.secretReadMetadata, scopes: [], hasBody: false, run: (v, b, u) => ok(v.listSecrets(b, u)) };
      if (n === 2 && method === 'PUT') return { operation: 'setSecret', action: DataAction.secretSet, scopes: sec, hasBody: true, run: (v, b, _u, body) => ok(v.setSecret(b, name, body)) };
      if (n === 2 && method === 'DELETE') return { operation: 'deleteSecret', action: DataAction.secretDelete, scopes: sec, hasBody: false, run: (v, b) => ok(v.deleteSecret(b, name)) };
      if (n === 3 && third === 'versions' && method === 'GET') {
        return { operation: 'listSecretVersions', action: DataAction.secretReadMetadata, scopes: [], hasBody: false, run: (v, b, u) => ok(v.listSecretVersions(b, name, u)) };
      }
      if ((n === 2 || n === 3) && method === 'GET') return { operation: 'getSecret', action: DataAction.secretGet, scopes: sec, hasBody: false, run: (v, b) => ok(v.getSecret(b, name, version)) };
      if ((n === 2 || n === 3) && method === 'PATCH') {
        return { operation: 'updateSecretProperties', action: DataAction.secretUpdate, scopes: sec, hasBody: true, run: (v, b, _u, body) => ok(v.updateSecret(b, name, version, body)) };
      }
      return undefined;
    case 'deletedsecrets':
      if (n === 1 && method === 'GET') return { operation: 'listDeletedSecrets', action: DataAction.deletedSecretRead, scopes: [], hasBody: false, run: (v, b, u) => ok(v.listDeletedSecrets(b, u)) };
      if (n === 2 && method === 'GET') return { operation: 'getDeletedSecret', action: DataAction.deletedSecretRead, scopes: sec, hasBody: false, run: (v, b) => ok(v.getDeletedSecret(b, name)) };
      if (n === 2 && method === 'DELETE') {
        return { operation: 'purgeDeletedSecret', action: DataAction.secretPurge, scopes: sec, hasBody: false, run: (v) => (v.purgeDeletedSecret(name), noContent) };
      }
      if (n === 3 && third === 'recover' && method === 'POST') {
        return { operation: 'recoverDeletedSecret', action: DataAction.secretRecover, scopes: sec, hasBody: false, run: (v, b) => ok(v.recoverDeletedSecret(b, name)) };
      }
      return undefined;
    case 'keys':
      if (n === 1 && method === 'GET') return { operation: 'listKeys', action: DataAction.keyRead, scopes: [], hasBody: false, run: (v, b, u) => ok(v.listKeys(b, u)) };
      if (n === 3 && third === 'create' && method === 'POST') {
        return { operation: 'createKey', action: DataAction.keyCreate, scopes: key, hasBody: true, run: async (v, b, _u, body) => ok(await v.createKey(b, name, body)) };
      }
      if (n === 2 && method === 'DELETE') return { operation: 'deleteKey', action: DataAction.keyDelete, scopes: key, hasBody: false, run: (v, b) => ok(v.deleteKey(b, name)) };
      if (n === 3 && third === 'versions' && method === 'GET') {
        return { operation: 'listKeyVersions', action: DataAction.keyRead, scopes: [], hasBody: false, run: (v, b, u) => ok(v.listKeyVersions(b, name, u)) };
      }
      if ((n === 2 || n === 3) && method === 'GET') return { operation: 'getKey', action: DataAction.keyRead, scopes: key, hasBody: false, run: (v, b) => ok(v.getKey(b, name, version)) };
      return undefined;
    case 'certificates':
      if (n === 1 && method === 'GET') return { operation: 'listCertificates', action: DataAction.certificateRead, scopes: [], hasBody: false, run: (v, b, u) => ok(v.listCertificates(b, u)) };
      if (n === 2 && method === 'DELETE') return { operation: 'deleteCertificate', action: DataAction.certificateDelete, scopes: cert, hasBody: false, run: (v, b) => ok(v.deleteCertificate(b, name)) };
      if (n === 3 && third === 'create' && method === 'POST') {
        return {
          operation: 'beginCreateCertificate',
          action: DataAction.certificateCreate,
          scopes: cert,
          hasBody: true,
          run: async (v, b, _u, body) => {
            const r = await v.createCertificate(b, name, body);
            return { status: r.status, body: r.body, headers: { Location: r.location, 'Retry-After': PENDING_RETRY_AFTER } };
          },
        };
      }
      if (n === 3 && third === 'import' && method === 'POST') {
        return { operation: 'importCertificate', action: DataAction.certificateImport, scopes: cert, hasBody: true, run: (v, b, _u, body) => ok(v.importCertificate(b, name, body)) };
      }
      if (n === 3 && third === 'pending' && method === 'GET') {
        return {
          operation: 'getCertificateOperation',
          action: DataAction.certificateRead,
          scopes: cert,
          hasBody: false,
          run: (v, b) => {
            const op = v.getCertificateOperation(b, name);
            return op.status === 'inProgress' ? { status: 200, body: op, headers: { 'Retry-After': PENDING_RETRY_AFTER } } : ok(op);
          },
        };
      }
      if (n === 3 && third === 'policy' && method === 'GET') {
        return { operation: 'getCertificatePolicy', action: DataAction.certificateRead, scopes: cert, hasBody: false, run: (v, b) => ok(v.getCertificatePolicy(b, name)) };
      }
      if (n === 3 && third === 'versions' && method === 'GET') {
        return { operation: 'listCertificateVersions', action: DataAction.certificateRead, scopes: [], hasBody: false, run: (v, b, u) => ok(v.listCertificateVersions(b, name, u)) };
      }
      if (n === 2 && method === 'GET') return { operation: 'getCertificate', action: DataAction.certificateRead, scopes: cert, hasBody: false, run: (v, b) => ok(v.getCertificate(b, name, undefined)) };
      if (n === 3 && method === 'GET') {
        // getCertificate(name) sends an empty version; getCertificateVersion a real one.
        return {
          operation: version === undefined ? 'getCertificate' : 'getCertificateVersion',
          action: DataAction.certificateRead,
          scopes: cert,
          hasBody: false,
          run: (v, b) => ok(v.getCertificate(b, name, version)),
        };
      }
      if ((n === 2 || n === 3) && method === 'PATCH') {
        return { operation: 'updateCertificateProperties', action: DataAction.certificateUpdate, scopes: cert, hasBody: true, run: (v, b, _u, body) => ok(v.updateCertificate(b, name, version, body)) };
      }
      return undefined;
    case 'deletedcertificates':
      if (n === 2 && method === 'GET') return { operation: 'getDeletedCertificate', action: DataAction.certificateRead, scopes: cert, hasBody: false, run: (v, b) => ok(v.getDeletedCertificate(b, name)) };
      if (n === 2 && method === 'DELETE') {
        return { operation: 'purgeDeletedCertificate', action: DataAction.certificatePurge, scopes: cert, hasBody: false, run: (v) => (v.purgeDeletedCertificate(name), noContent) };
      }
      if (n === 3 && third === 'recover' && method === 'POST') {
        return { operation: 'recoverDeletedCertificate', action: DataAction.certificateRecover, scopes: cert, hasBody: false, run: (v, b) => ok(v.recoverDeletedCertificate(b, name)) };
      }
      return undefined;
    default:
      void fourth;
      return undefined;
  }
}
