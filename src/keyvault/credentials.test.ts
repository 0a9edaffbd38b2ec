import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClientAssertionCredential, ClientSecretCredential } from '@azure/identity';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyVaultIdentity, parseKeyVaultSync } from '../api/parse.ts';
import type { ResolvedKeyVaultIdentity } from '../api/parse.ts';
import type { ResolvedKeyVaultSync } from '../api/resolved.ts';
import { defaultAzureEnvironment } from './azure-environment.ts';
import { CredentialProvider, IDENTITY_READ_TTL_MS, ServiceAccountTokenSource, identityLogId, type CoreApi } from './credentials.ts';
import { ImdsCredential } from './imds-credential.ts';
import type { BoundedCredential } from './request-deadline.ts';

const TENANT = '00000000-0000-0000-0000-000000000000';
const MI_CLIENT = '11111111-2222-4333-8444-555555555555';
const SP_CLIENT = '22222222-3333-4444-8555-666666666666';
const WI_CLIENT = '33333333-4444-4555-8666-777777777777';

function sync(identity: Record<string, unknown>, vault: Record<string, unknown> = { name: 'gebakv', tenantID: TENANT }): ResolvedKeyVaultSync {
  const r = parseKeyVaultSync({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name: 's', namespace: 'shop' }, spec: { vault, identity, objects: [{ name: 'a', type: 'secret' }] } });
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

function identity(name: string, spec: Record<string, unknown>): ResolvedKeyVaultIdentity {
  const r = parseKeyVaultIdentity({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultIdentity', metadata: { name }, spec });
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

/** A unit-test stand-in for the few CoreV1Api calls (the integration tests use the real apiserver). */
function fakeCore(state: { secretVersion: string; tokenRequests: number }): CoreApi {
  const notFound = (): Error => Object.assign(new Error('not found'), { code: 404 });
  return {
    readNamespacedSecret: ({ name }: { name: string }) =>
      name === 'kv-creds'
        ? Promise.resolve({ metadata: { resourceVersion: state.secretVersion }, data: { clientid: Buffer.from(SP_CLIENT).toString('base64'), clientsecret: Buffer.from('cs').toString('base64'), password: Buffer.from('hunter2-Secret!').toString('base64') } })
        : Promise.reject(notFound()),
    readNamespacedServiceAccount: ({ name }: { name: string }) =>
      name === 'web' ? Promise.resolve({ metadata: { annotations: { 'azure.workload.identity/client-id': WI_CLIENT } } }) : name === 'odd' ? Promise.resolve({ metadata: { annotations: { 'azure.workload.identity/client-id': 'hunter2-annotation', 'azure.workload.identity/tenant-id': TENANT } } }) : name === 'bare' ? Promise.resolve({ metadata: {} }) : Promise.reject(notFound()),
    createNamespacedServiceAccountToken: () => {
      state.tokenRequests++;
      return Promise.resolve({ spec: { audiences: [] }, status: { token: 'sa-token', expirationTimestamp: new Date(Date.now() + 3600_000) } });
    },
    readNamespace: () => Promise.resolve({ metadata: { labels: { team: 'shop' } } }),
  };
}

describe('CredentialProvider', () => {
  const state = { secretVersion: '1', tokenRequests: 0 };
  const clock = { now: 1_000_000 };
  const provider = new CredentialProvider({ kube: new KubeConfig(), env: defaultAzureEnvironment(), core: fakeCore(state), now: () => clock.now });
  const ctx = { namespace: 'shop', identities: [] };

  it('servicePrincipal: a cached ClientSecretCredential, renewed when the Secret changes (read at most once per IDENTITY_READ_TTL_MS)', async () => {
    const s = sync({ servicePrincipal: { secretRef: { name: 'kv-creds' } } });
    const a = await provider.credentialFor(s, ctx);
    const b = await provider.credentialFor(s, ctx);
    expect((a.credential as BoundedCredential).inner).toBeInstanceOf(ClientSecretCredential);
    expect(b.credential).toBe(a.credential);
    expect(a.identityKey).not.toContain('cs');
    state.secretVersion = '2';
    // The Secret was read less than IDENTITY_READ_TTL_MS ago: that read stands for it.
    clock.now += IDENTITY_READ_TTL_MS - 1;
    expect((await provider.credentialFor(s, ctx)).credential).toBe(a.credential);
    clock.now += 1;
    const c = await provider.credentialFor(s, ctx);
    expect(c.credential).not.toBe(a.credential);
    // The credential of the old Secret version is dropped: one per source.
    expect(provider.size).toBe(1);
  });

  it('servicePrincipal: a missing Secret is IdentityNotFound', async () => {
    await expect(provider.credentialFor(sync({ servicePrincipal: { secretRef: { name: 'nope' } } }), ctx)).rejects.toMatchObject({ reason: 'IdentityNotFound', message: expect.stringContaining('shop/nope') as string });
  });

  it('servicePrincipal: a client ID key naming anything but a GUID (say a password) is refused before use, never quoted', async () => {
    const s = sync({ servicePrincipal: { secretRef: { name: 'kv-creds', clientIDKey: 'password' } } });
    const err = await provider.credentialFor(s, ctx).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toMatchObject({ reason: 'InvalidSpec', message: expect.stringContaining('key "password" of service principal Secret shop/kv-creds') as string });
    expect(err?.message).not.toContain('hunter2');
  });

  it('workloadIdentity: a client-id annotation that is not a GUID is refused, never quoted', async () => {
    const err = await provider.credentialFor(sync({ workloadIdentity: { serviceAccountName: 'odd' } }), ctx).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toMatchObject({ reason: 'InvalidSpec', message: expect.stringContaining('annotation of ServiceAccount shop/odd') as string });
    expect(err?.message).not.toContain('hunter2');
  });

  it('names identities in logs by a short hash of the key, never the key', () => {
    const key = `servicePrincipal|${TENANT}|${SP_CLIENT}|https://login.microsoftonline.com/|shop/kv-creds@1`;
    expect(identityLogId(key)).toMatch(/^[0-9a-f]{12}$/);
    expect(identityLogId(key)).toBe(identityLogId(key));
    expect(identityLogId(key)).not.toBe(identityLogId(key.replace('@1', '@2')));
  });

  it('workloadIdentity: client ID from the SA annotation, assertion requested lazily', async () => {
    const { credential, identityKey } = await provider.credentialFor(sync({ workloadIdentity: { serviceAccountName: 'web' } }), ctx);
    expect((credential as BoundedCredential).inner).toBeInstanceOf(ClientAssertionCredential);
    expect(identityKey).toContain(WI_CLIENT);
    expect(identityKey).toContain('shop/web');
    expect(state.tokenRequests).toBe(0);
  });

  it('workloadIdentity: an SA without client ID annotation (and none given) is IdentityNotFound', async () => {
    await expect(provider.credentialFor(sync({ workloadIdentity: { serviceAccountName: 'bare' } }), ctx)).rejects.toMatchObject({ reason: 'IdentityNotFound' });
  });

  const shared = identity('shared', { type: 'podIdentity', clientID: MI_CLIENT, tenantID: TENANT, allowedNamespaces: { names: ['shop'] }, allowedVaults: ['gebakv'] });

  it('podIdentity: a KeyVaultIdentity granting namespace and vault gives an IMDS credential', async () => {
    const { credential, identityKey } = await provider.credentialFor(sync({ podIdentity: { identityRef: 'shared' } }), { namespace: 'shop', identities: [shared] });
    expect((credential as BoundedCredential).inner).toBeInstanceOf(ImdsCredential);
    expect(identityKey).toContain(MI_CLIENT);
  });

  it('podIdentity: refused in a namespace the identity does not grant, naming identity and namespace', async () => {
    await expect(provider.credentialFor(sync({ podIdentity: { identityRef: 'shared' } }), { namespace: 'other', identities: [shared] })).rejects.toMatchObject({
      reason: 'IdentityNotPermitted',
      message: expect.stringMatching(/KeyVaultIdentity "shared" does not grant namespace "other"/) as string,
    });
  });

  it('podIdentity: refused for a vault the identity does not grant', async () => {
    await expect(provider.credentialFor(sync({ podIdentity: { identityRef: 'shared' } }, { name: 'othervault', tenantID: TENANT }), { namespace: 'shop', identities: [shared] })).rejects.toMatchObject({ reason: 'IdentityNotPermitted' });
  });

  it('managedIdentity: a ref to a podIdentity-type identity is refused; a missing ref is IdentityNotFound', async () => {
    await expect(provider.credentialFor(sync({ managedIdentity: { identityRef: 'shared' } }), { namespace: 'shop', identities: [shared] })).rejects.toMatchObject({ reason: 'IdentityNotPermitted' });
    await expect(provider.credentialFor(sync({ managedIdentity: { identityRef: 'ghost' } }), { namespace: 'shop', identities: [shared] })).rejects.toMatchObject({ reason: 'IdentityNotFound' });
  });
});

describe('ImdsCredential', () => {
  let server: Server;
  let host = '';
  const seen: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(`${String(req.headers.metadata ?? '-')} ${req.url ?? ''}`);
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.searchParams.get('client_id') !== MI_CLIENT) {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_request","error_description":"Identity not found"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: `tok-${seen.length}`, expires_on: String(Math.floor(Date.now() / 1000) + 3600), expires_in: '3600', token_type: 'Bearer' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('asks IMDS with Metadata: true, resource and client_id, and caches the token', async () => {
    const cred = new ImdsCredential({ host, clientId: MI_CLIENT });
    const a = await cred.getToken('https://vault.azure.net/.default');
    const b = await cred.getToken('https://vault.azure.net/.default');
    expect(b.token).toBe(a.token);
    expect(a.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3000_000);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^true \/metadata\/identity\/oauth2\/token\?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net&client_id=/);
  });

  it('fails with the status and IMDS error code only: never IMDS\'s text, never a token', async () => {
    const cred = new ImdsCredential({ host, clientId: '99999999-2222-4333-8444-555555555555', attempts: 1 });
    const err = await cred.getToken('https://vault.azure.net/.default').then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toMatchObject({ reason: 'AuthenticationFailed', message: expect.stringMatching(/refused the token request \(HTTP 400, invalid_request\)$/) as string });
    expect(err?.message).not.toContain('Identity not found');
  });
});

describe('ImdsCredential against a hostile IMDS', () => {
  let server: Server;
  let host = '';
  let answer: { status: number; body: string | Buffer } = { status: 200, body: '' };
  let requests = 0;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      requests++;
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  const token = (fields: Record<string, unknown>): string => JSON.stringify({ access_token: 'tok', token_type: 'Bearer', ...fields });
  const outcome = (): Promise<{ expiresOnTimestamp: number } | Error> =>
    new ImdsCredential({ host, clientId: MI_CLIENT, attempts: 1 }).getToken('https://vault.azure.net/.default').then(
      (t) => t,
      (e: unknown) => e as Error,
    );

  it.each([
    ['no lifetime', token({})],
    ['a negative lifetime', token({ expires_in: '-60' })],
    ['a lifetime that is not a number', token({ expires_in: 'soon' })],
    ['an expiry in the past', token({ expires_on: String(Math.floor(Date.now() / 1000) - 60) })],
    ['a body that is not JSON', '<html>MARKER</html>'],
    ['a JSON body that is not an object', 'null'],
  ])('refuses a token with %s (AuthenticationFailed, IMDS text not repeated)', async (_name, body) => {
    answer = { status: 200, body };
    const got = await outcome();
    expect(got).toMatchObject({ reason: 'AuthenticationFailed' });
    expect((got as Error).message).not.toContain('MARKER');
  });

  it.each([
    ['ahead of', 600],
    ['behind', -600],
  ])('counts a token\'s lifetime on the local clock when IMDS\'s clock is 10 minutes %s it', async (_name, skewSeconds) => {
    const issued = Math.floor(Date.now() / 1000) + skewSeconds;
    answer = { status: 200, body: token({ expires_in: '20', expires_on: String(issued + 20) }) };
    const before = Date.now();
    const got = await outcome();
    expect(got).not.toBeInstanceOf(Error);
    const expiresOn = (got as { expiresOnTimestamp: number }).expiresOnTimestamp;
    expect(expiresOn).toBeGreaterThanOrEqual(before + 20_000);
    expect(expiresOn).toBeLessThanOrEqual(Date.now() + 20_000);
  });

  it('cuts an absurd lifetime to 24 hours', async () => {
    answer = { status: 200, body: token({ expires_in: String(10 ** 12) }) };
    const got = await outcome();
    expect(got).not.toBeInstanceOf(Error);
    expect((got as { expiresOnTimestamp: number }).expiresOnTimestamp).toBeLessThanOrEqual(Date.now() + 24 * 3600_000);
  });

  it('stops reading a body over 1 MiB', async () => {
    answer = { status: 200, body: Buffer.alloc(3 * 1024 * 1024, 0x61) };
    requests = 0;
    const got = await outcome();
    expect(got).toMatchObject({ reason: 'AuthenticationFailed', message: expect.stringContaining('more than 1048576 bytes') as string });
    expect(requests).toBe(1);
  });
});

describe('ServiceAccountTokenSource', () => {
  function core(expiresInMs: number, calls: { n: number; audiences: string[][] }): CoreApi {
    return {
      createNamespacedServiceAccountToken: ({ body }: { body: { spec: { audiences: string[] } } }) => {
        calls.n++;
        calls.audiences.push(body.spec.audiences);
        return Promise.resolve({ spec: body.spec, status: { token: `t${calls.n}`, expirationTimestamp: new Date(Date.now() + expiresInMs) } });
      },
    } as unknown as CoreApi;
  }

  it('requests a token for audience api://AzureADTokenExchange once and reuses it while fresh; concurrent callers share one request', async () => {
    const calls = { n: 0, audiences: [] as string[][] };
    const source = new ServiceAccountTokenSource(core(3600_000, calls), 'shop', 'web');
    const [a, b] = await Promise.all([source.get(), source.get()]);
    expect([a, b, await source.get()]).toEqual(['t1', 't1', 't1']);
    expect(calls).toEqual({ n: 1, audiences: [['api://AzureADTokenExchange']] });
  });

  it('requests a new token once 80 % of the lifetime has passed', async () => {
    const calls = { n: 0, audiences: [] as string[][] };
    // Already past its refresh point when issued: every call asks again.
    const source = new ServiceAccountTokenSource(core(-1000, calls), 'shop', 'web');
    expect(await source.get()).toBe('t1');
    expect(await source.get()).toBe('t2');
  });
});
