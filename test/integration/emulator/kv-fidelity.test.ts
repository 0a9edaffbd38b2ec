/**
 * Replays recorded exchanges of the real Key Vault, Entra ID and IMDS (the shared corpus
 * `kv-recordings/`, Azure SDK playback recordings and public transcripts) against the emulator, and
 * fails on any difference a client could notice: status, JSON shape (keys and their types, at any
 * depth), error codes and other values clients branch on, the shape of ids and links, the headers
 * clients act on (Retry-After, Location, WWW-Authenticate), and the order of listed versions.
 *
 * Each exchange: its `seed` is made first (object names get a fresh per-exchange prefix, so exchanges
 * do not see each other's objects), then its request is sent (a recorded version in the path is
 * replaced by the seeded object's version, a recorded `$skiptoken` by following the emulator's own
 * `nextLink`) with a token of the principal it names. Differences no client reads are allowed by
 * path, each with the reason; docs/emulator.md lists the same ones.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../../src/emulator/server.ts';
import { sharedCorpusDir } from '../../support/shared-corpora.ts';
import { adminPrincipal, bearer, rawRequest, startTestEmulator, type Principal, type RawResponse } from './kv-support.ts';

// ---------------------------------------------------------------- the corpus

interface Exchange {
  id: string;
  operation: string;
  request: { method: string; path: string; query: Record<string, string>; headers: Record<string, string>; body: unknown };
  response: { status: number; headers: Record<string, string>; body: unknown };
  seed?: { op: string; name: string; body?: Record<string, unknown>; wait?: boolean }[];
  replay?: {
    names?: string[];
    target?: 'vault' | 'entra' | 'imds';
    auth?: 'admin' | 'secrets-user';
    versionOf?: 'secret' | 'certificate';
    followNextLink?: { path: string; query: Record<string, string>; pages: number | 'last'; collect?: boolean };
    checkOrder?: { rule: 'by-version-id' };
  };
}

const DIR = sharedCorpusDir('kv-recordings');
const EXCHANGES: Exchange[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Exchange);

// ---------------------------------------------------------------- allowed differences

/**
 * Differences no client reads, by exchange id (`*` = every exchange) and difference path (a prefix
 * match on the path the comparison reports). docs/emulator.md lists each one.
 */
const ALLOWED: { ids: string[] | '*'; path: string; why: string }[] = [
  {
    ids: ['go-createKey-ec-p256k', 'go-getKey', 'js-setSecret-disabled'],
    path: 'body.attributes.recoveryLevel',
    why: 'a per-vault setting: the Go and JS recorders\' vaults had CustomizedRecoverable+Purgeable (7 days), the C++ one Recoverable+Purgeable (90 days), which the emulator reports',
  },
  {
    ids: ['cpp-createKey-rsa', 'cpp-getKey-ec', 'cpp-listKeys-firstpage', 'cpp-listKeyVersions'],
    path: 'body.attributes.exportable',
    why: 'the C++ recordings (2021) predate the `exportable` key attribute; the Go ones (2022) and the emulator have it',
  },
  {
    ids: ['cpp-listKeys-firstpage', 'cpp-listKeyVersions'],
    path: 'body.value[].attributes.exportable',
    why: 'as above, in list items',
  },
  {
    ids: ['go-getKey'],
    path: 'body.key.crv',
    why: 'the corpus seeds this key with crv P-256 (its seed body) while the recorded key was P-256K; createKey with P-256K is replayed on its own',
  },
  {
    ids: ['doc-imds-token'],
    path: 'body.client_id',
    why: 'the emulator answers as aad-pod-identity\'s NMI does; no client reads client_id, ext_expires_in or refresh_token from IMDS (MSAL reads access_token, expires_on, resource, token_type)',
  },
  { ids: ['doc-imds-token'], path: 'body.ext_expires_in', why: 'as above' },
  { ids: ['doc-imds-token'], path: 'body.refresh_token', why: 'as above' },
];

const allowed = (id: string, diff: string): boolean => ALLOWED.some((a) => (a.ids === '*' || a.ids.includes(id)) && diff.startsWith(a.path));

// ---------------------------------------------------------------- comparison

type J = unknown;
const kind = (v: J): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
/** Values clients branch on: compared exactly (other leaves by type only). */
const VALUE_KEYS = new Set(['code', 'status', 'token_type', 'contentType', 'managed', 'enabled', 'kty', 'crv', 'error', 'error_codes', 'cancellation_requested', 'recoveryLevel', 'exportable', 'reuse_key']);
/** Keys holding URLs whose path clients parse (ids, links). */
const URL_KEYS = new Set(['id', 'kid', 'sid', 'target', 'nextLink', 'recoveryId', 'token_endpoint', 'jwks_uri', 'issuer', 'authorization_endpoint', 'tenant_discovery_endpoint']);

const COLLECTIONS = new Set(['secrets', 'certificates', 'keys', 'deletedsecrets', 'deletedcertificates', 'deletedkeys']);

/**
 * A URL reduced to what clients read of it: the path with object names, versions and tenants made
 * generic (`/secrets/<name>/<version>`), and the query's keys.
 */
function urlShape(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return `not a URL: ${value}`;
  }
  const raw = u.pathname.split('/');
  const segs = raw.map((s, i) => {
    if (i > 0 && COLLECTIONS.has(raw[i - 1]?.toLowerCase() ?? '') && s !== '') return '<name>';
    if (/^[0-9a-f]{32}$/i.test(s)) return '<version>';
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s)) return '<tenant>';
    return s.toLowerCase();
  });
  const keys = [...new Set([...u.searchParams.keys()])].sort();
  return `${segs.join('/')}${keys.length > 0 ? `?${keys.join('&')}` : ''}`;
}

function similarity(a: J, b: J): number {
  if (kind(a) !== 'object' || kind(b) !== 'object') return 0;
  const ka = new Set(Object.keys(a as object));
  const kb = Object.keys(b as object);
  return kb.filter((k) => ka.has(k)).length / Math.max(1, new Set([...ka, ...kb]).size);
}

/**
 * Adds to `out` how `actual` differs from `recorded`. `loose`: the two are different objects of one kind
 * (list items of another vault's content): only the types of the keys both have count, not optional
 * keys one of them has or values that depend on the object.
 */
function compare(recorded: J, actual: J, path: string, out: string[], loose = false): void {
  // Whether a page has a next one depends on how many objects the vault holds (paging itself is
  // replayed with maxresults=1 on seeded objects).
  if (path.endsWith('.nextLink') && (recorded === null || actual === null)) return;
  if (kind(recorded) !== kind(actual)) {
    out.push(`${path}: ${kind(recorded)} recorded, ${kind(actual)} from the emulator`);
    return;
  }
  if (Array.isArray(recorded) && Array.isArray(actual)) {
    const items: J[] = actual;
    if (recorded.length > 0 && actual.length === 0 && !loose) out.push(`${path}: empty from the emulator`);
    if (recorded.length === 0 || actual.length === 0) return;
    // Lists of one kind of object: each item is compared with the emulator's item most like it, as
    // the same object when their element counts match, else loosely (lists of other vaults' objects).
    const same = recorded.length === actual.length;
    (recorded as J[]).forEach((r, i) => {
      const best = same ? items[i] : items.reduce<{ item: J; score: number }>((acc, a) => (similarity(r, a) > acc.score ? { item: a, score: similarity(r, a) } : acc), { item: items[0], score: -1 }).item;
      compare(r, best, `${path}[]`, out, loose || !same);
    });
    return;
  }
  if (kind(recorded) === 'object') {
    const r = recorded as Record<string, J>;
    const a = actual as Record<string, J>;
    for (const k of Object.keys(r)) {
      // Tags are the user's content; another object's differ.
      if (loose && k === 'tags') continue;
      if (!(k in a)) {
        if (!loose) out.push(`${path}.${k}: missing from the emulator`);
      }
      else compare(r[k], a[k], `${path}.${k}`, out, loose);
    }
    if (!loose) for (const k of Object.keys(a)) if (!(k in r)) out.push(`${path}.${k}: only from the emulator`);
    return;
  }
  const key = path.split('.').at(-1)?.replace(/\[\]$/, '') ?? '';
  if (typeof recorded === 'string' && typeof actual === 'string' && URL_KEYS.has(key) && /^https?:\/\//.test(recorded)) {
    const [rs, as] = [urlShape(recorded), urlShape(actual)];
    if (rs !== as) out.push(`${path}: url ${rs} recorded, ${as} from the emulator`);
    return;
  }
  if (!loose && VALUE_KEYS.has(key) && JSON.stringify(recorded) !== JSON.stringify(actual)) out.push(`${path}: ${JSON.stringify(recorded)} recorded, ${JSON.stringify(actual)} from the emulator`);
}

/** The headers clients act on: presence, and the value where it is a fixed protocol value. */
function compareHeaders(recorded: Record<string, string>, actual: RawResponse['headers'], out: string[]): void {
  const get = (name: string): string | undefined => {
    const v = actual[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  for (const name of ['retry-after', 'location', 'www-authenticate']) {
    const r = recorded[name];
    const a = get(name);
    if ((r === undefined) !== (a === undefined)) out.push(`headers.${name}: ${r === undefined ? 'absent' : 'present'} recorded, ${a === undefined ? 'absent' : 'present'} from the emulator`);
    else if (name === 'retry-after' && r !== a) out.push(`headers.retry-after: ${r} recorded, ${a} from the emulator`);
    else if (name === 'location' && r !== undefined && a !== undefined && urlShape(r) !== urlShape(a)) out.push(`headers.location: ${urlShape(r)} recorded, ${urlShape(a)} from the emulator`);
    else if (name === 'www-authenticate' && r !== undefined && a !== undefined) {
      const params = (h: string): string => [...h.matchAll(/(\w+)="/g)].map((m) => m[1]).sort().join(',');
      if (params(r) !== params(a) || !a.includes('resource="https://vault.azure.net"')) out.push(`headers.www-authenticate: ${params(r)} recorded, ${params(a)} from the emulator`);
    }
  }
  const type = (v: string | undefined): string | undefined => v?.split(';')[0]?.trim().toLowerCase();
  if (recorded['content-type'] !== undefined && type(recorded['content-type']) !== type(get('content-type'))) {
    out.push(`headers.content-type: ${type(recorded['content-type'])} recorded, ${type(get('content-type'))} from the emulator`);
  }
}

// ---------------------------------------------------------------- replay

let emu: RunningEmulator;
const SECRETS_USER = 'secrets-user';
const SECRETS_USER_SECRET = 'secrets-user-secret';
/** How long the emulator keeps a new certificate version pending (Key Vault: seconds). */
const PENDING_SECONDS = 5;

/** One vault per exchange: listings see only that exchange's seeds. */
const vaultOf = (index: number): string => `replay-${String(index).padStart(2, '0')}`;

beforeAll(async () => {
  emu = await startTestEmulator({
    vaults: EXCHANGES.map((_, i) => ({ name: vaultOf(i) })),
    servicePrincipals: [{ name: SECRETS_USER, secrets: [SECRETS_USER_SECRET] }],
    roleAssignments: [{ principal: SECRETS_USER, role: 'Key Vault Secrets User', vault: '*' }],
    certificateCreation: { pendingSeconds: PENDING_SECONDS },
  });
});

afterAll(async () => {
  await emu?.stop();
});

function principal(which: 'admin' | 'secrets-user' | undefined): Principal {
  if (which !== 'secrets-user') return adminPrincipal(emu);
  const p = emu.config.servicePrincipals.find((x) => x.name === SECRETS_USER);
  if (p === undefined) throw new Error('secrets-user missing from the emulator config');
  return { clientId: p.clientId, secret: SECRETS_USER_SECRET };
}

function vaultUrl(vault: string): string {
  const url = emu.endpoints.vaults[vault];
  if (url === undefined) throw new Error(`no vault ${vault}`);
  return url;
}

const query = (q: Record<string, string>): string => {
  const s = new URLSearchParams(q).toString();
  return s === '' ? '' : `?${s}`;
};

async function vaultCall(vault: string, method: string, path: string, body: unknown, token: string | undefined, headers: Record<string, string> = {}): Promise<RawResponse> {
  const h: Record<string, string> = { ...headers };
  if (token !== undefined) h.Authorization = `Bearer ${token}`;
  if (body !== null && body !== undefined) h['Content-Type'] = 'application/json';
  return rawRequest(emu, method, path.startsWith('https://') ? path : `${vaultUrl(vault)}${path}`, { headers: h, ...(body === null || body === undefined ? {} : { body: JSON.stringify(body) }) });
}

/** Makes the seed objects (as the admin), waiting for certificate versions to complete where asked. */
async function seed(vault: string, x: Exchange, fresh: (name: string) => string, token: string): Promise<void> {
  const check = (r: RawResponse, what: string): void => {
    if (r.status >= 300) throw new Error(`seed ${what} of ${x.id}: ${r.status} ${r.text}`);
  };
  for (const s of x.seed ?? []) {
    const name = fresh(s.name);
    switch (s.op) {
      case 'setSecret':
        check(await vaultCall(vault, 'PUT', `/secrets/${name}?api-version=7.5`, s.body ?? {}, token), s.op);
        break;
      case 'updateSecret':
        check(await vaultCall(vault, 'PATCH', `/secrets/${name}/?api-version=7.5`, s.body ?? {}, token), s.op);
        break;
      case 'deleteSecret':
        check(await vaultCall(vault, 'DELETE', `/secrets/${name}?api-version=7.5`, null, token), s.op);
        break;
      case 'createKey':
        check(await vaultCall(vault, 'POST', `/keys/${name}/create?api-version=7.5`, s.body ?? { kty: 'RSA' }, token), s.op);
        break;
      case 'deleteCertificate':
        check(await vaultCall(vault, 'DELETE', `/certificates/${name}?api-version=7.5`, null, token), s.op);
        break;
      case 'createCertificate': {
        check(await vaultCall(vault, 'POST', `/certificates/${name}/create?api-version=7.5`, s.body ?? {}, token), s.op);
        if (s.wait === true) {
          // The pending phase ends on the emulator's clock.
          emu.clock.shift((PENDING_SECONDS + 1) * 1000);
          const op = await vaultCall(vault, 'GET', `/certificates/${name}/pending?api-version=7.5`, null, token);
          if ((op.json as { status?: string } | undefined)?.status !== 'completed') throw new Error(`seed ${s.op} of ${x.id}: still ${op.text}`);
        }
        break;
      }
      default:
        throw new Error(`seed op ${s.op} of ${x.id} is unknown to the replay`);
    }
  }
}

/** Replays one exchange; returns the differences, the emulator's answer, and the collected listing. */
async function replay(x: Exchange, index: number): Promise<{ diffs: string[]; answer: RawResponse; collected: string[] }> {
  const target = x.replay?.target ?? 'vault';
  const vault = vaultOf(index);
  const prefix = `r${String(index).padStart(2, '0')}`;
  const recordedNames = new Set([...(x.seed ?? []).map((s) => s.name), ...(x.replay?.names ?? [])]);
  const fresh = (name: string): string => `${prefix}${name}`.slice(0, 127);
  const rename = (path: string): string => path.split('/').map((seg) => (recordedNames.has(seg) ? fresh(seg) : seg)).join('/');
  const diffs: string[] = [];
  const collected: string[] = [];
  let answer: RawResponse;

  if (target === 'vault') {
    const adminToken = await bearer(emu);
    await seed(vault, x, fresh, adminToken);
    const withAuth = 'authorization' in x.request.headers;
    const token = withAuth ? await bearer(emu, principal(x.replay?.auth)) : undefined;
    let path = rename(x.request.path);
    const version = /^\/(secrets|certificates|keys)\/[^/]+\/[0-9a-f]{32}$/i.exec(x.request.path);
    if (version !== null) {
      // The recorded version segment becomes the seeded object's current version (of the certificate
      // for a certificate's backing secret).
      const name = fresh(x.replay?.names?.[0] ?? '');
      const collection = x.replay?.versionOf === 'certificate' ? 'certificates' : (version[1] ?? 'secrets');
      const current = await vaultCall(vault, 'GET', `/${collection}/${name}/?api-version=7.5`, null, adminToken);
      const id = (current.json as { id?: string; key?: { kid?: string } } | undefined)?.id ?? (current.json as { key?: { kid?: string } } | undefined)?.key?.kid ?? '';
      path = path.replace(/[0-9a-f]{32}$/i, id.split('/').at(-1) ?? '');
    }
    const follow = x.replay?.followNextLink;
    if (follow === undefined) {
      answer = await vaultCall(vault, x.request.method, `${path}${query(x.request.query)}`, x.request.body, token);
    } else {
      answer = await vaultCall(vault, 'GET', `${rename(follow.path)}${query(follow.query)}`, null, token);
      const take = (r: RawResponse): void => {
        for (const item of (r.json as { value?: { id?: string }[] } | undefined)?.value ?? []) collected.push(item.id?.split('/').at(-1) ?? '');
      };
      take(answer);
      // A collecting replay compares the first page (what was recorded) and the order across all pages.
      const firstPage = answer;
      for (let page = 0, at = answer; follow.pages === 'last' || page < follow.pages; page++) {
        const next = (at.json as { nextLink?: string | null } | undefined)?.nextLink;
        if (typeof next !== 'string') break;
        at = await vaultCall(vault, 'GET', next, null, token);
        take(at);
        if (follow.collect !== true) answer = at;
      }
      if (follow.collect === true) answer = firstPage;
    }
  } else if (target === 'entra') {
    const admin = adminPrincipal(emu);
    const path = x.request.path.replace(/^\/(?!common\/)[^/]+/, `/${emu.endpoints.tenantID}`);
    const body = typeof x.request.body === 'string' ? x.request.body.replaceAll('{client_id}', encodeURIComponent(admin.clientId)).replaceAll('{client_secret}', encodeURIComponent(admin.secret)) : undefined;
    const headers: Record<string, string> = {};
    if (x.request.headers['content-type'] !== undefined) headers['Content-Type'] = x.request.headers['content-type'];
    answer = await rawRequest(emu, x.request.method, `${emu.endpoints.authorityHost}${path}${query(x.request.query)}`, { headers, ...(body === undefined ? {} : { body }) });
  } else {
    const res = await fetch(`${emu.endpoints.imdsEndpoint}${x.request.path}${query(x.request.query)}`, { headers: { Metadata: x.request.headers.metadata ?? 'true' } });
    const text = await res.text();
    answer = { status: res.status, headers: Object.fromEntries(res.headers), text, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  }

  if (answer.status !== x.response.status) diffs.push(`status: ${x.response.status} recorded, ${answer.status} from the emulator (${answer.text.slice(0, 200)})`);
  else {
    if (x.response.body !== null && x.response.body !== undefined) compare(x.response.body, answer.json, 'body', diffs);
    compareHeaders(x.response.headers, answer.headers, diffs);
  }
  return { diffs: diffs.filter((d) => !allowed(x.id, d)), answer, collected };
}

describe('the emulator answers as the recorded Key Vault, Entra ID and IMDS', () => {
  it('the corpus is there (58 exchanges)', () => {
    expect(EXCHANGES.length).toBeGreaterThanOrEqual(58);
  });

  it.each(EXCHANGES.map((x, i) => [x.id, x, i] as const))('%s', async (_id, x, i) => {
    const { diffs, collected } = await replay(x, i);
    expect(diffs, `${x.operation}`).toEqual([]);
    if (x.replay?.checkOrder?.rule === 'by-version-id') {
      expect(collected.length).toBeGreaterThan(1);
      expect(collected).toEqual([...collected].sort());
    }
  });

  it('every allowed difference is listed in docs/emulator.md', () => {
    const doc = readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '../../../docs/emulator.md'), 'utf8');
    for (const a of ALLOWED) expect(doc, a.why).toContain(`\`${a.path}\``);
  });
});
