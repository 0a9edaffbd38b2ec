import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkloadIdentityCredential } from '@azure/identity';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseKeyVaultSync } from '../api/parse.ts';
import type { ResolvedKeyVaultSync } from '../api/resolved.ts';
import { defaultAzureEnvironment } from '../keyvault/azure-environment.ts';
import { SyncError } from '../keyvault/errors.ts';
import { bundleFromKeyVaultSecret, bundleFromFile, CONTENT_TYPE_PEM } from '../pki/bundle.ts';
import { makeChain, type TestChain } from '../pki/test-fixtures.ts';
import type { FetchedObject, FetchResult } from '../keyvault/fetch.ts';
import { ImdsCredential } from '../keyvault/imds-credential.ts';
import type { BoundedCredential } from '../keyvault/request-deadline.ts';
import { parseMountSpec } from './command.ts';
import { podCredential } from './credential.ts';
import { payloadFor } from './files.ts';
import { startReadinessServer } from './readiness.ts';
import { MountSidecar } from './sidecar.ts';
import type { MountLogger } from './sidecar.ts';

const TENANT = '00000000-0000-0000-0000-000000000000';

function resolve(spec: Record<string, unknown>): ResolvedKeyVaultSync {
  const r = parseKeyVaultSync({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name: 't', namespace: 'ns' }, spec: { vault: { name: 'devkv', tenantID: TENANT }, identity: { podIdentity: { identityRef: 'pod' } }, ...spec } });
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

function fetched(sync: ResolvedKeyVaultSync, values: Record<string, string | string[]>): FetchedObject[] {
  return sync.objects.flatMap((object) => {
    const v = values[object.outputName];
    const versions = v === undefined ? [] : Array.isArray(v) ? v : [v];
    return versions.map((value, historyIndex) => ({ object, version: `v${historyIndex}`, contentType: undefined, updatedOn: undefined, expiresOn: undefined, historyIndex, material: { kind: 'secret' as const, value } }));
  });
}

class MemoryLog implements MountLogger {
  readonly lines: string[] = [];
  info(obj: object, msg: string): void {
    this.lines.push(`info ${msg} ${JSON.stringify(obj)}`);
  }
  warn(obj: object, msg: string): void {
    this.lines.push(`warn ${msg} ${JSON.stringify(obj)}`);
  }
}

describe('payloadFor', () => {
  it('one file per alias with its filePermission and encoding; history as <alias>/<index>; a missing optional object left out', () => {
    const sync = resolve({
      objects: [
        { name: 'db-password', type: 'secret', alias: 'password', filePermission: '0600' },
        { name: 'blob', type: 'secret', encoding: 'base64' },
        { name: 'maybe', type: 'secret', optional: true },
      ],
      parameters: { objects: 'array:\n  - |\n    objectName: rotating\n    objectType: secret\n    objectVersionHistory: 2\n' },
    });
    const payload = payloadFor(sync, fetched(sync, { password: 'hunter2', blob: Buffer.from([0, 1, 2]).toString('base64'), rotating: ['new', 'old'] }));
    expect(Object.keys(payload).sort()).toEqual(['blob', 'password', 'rotating/0', 'rotating/1']);
    expect(payload.password).toEqual({ data: Buffer.from('hunter2'), mode: 0o600 });
    expect(payload.blob?.data).toEqual(Buffer.from([0, 1, 2]));
    expect(payload.blob?.mode).toBe(0o644);
    expect(payload['rotating/0']?.data.toString()).toBe('new');
    expect(payload['rotating/1']?.data.toString()).toBe('old');
  });

  it('throws a SyncError for a required object that was not fetched', () => {
    const sync = resolve({ objects: [{ name: 'a', type: 'secret' }] });
    expect(() => payloadFor(sync, [])).toThrow(SyncError);
  });
});

describe('payloadFor: the CSI provider\'s separate <alias>.crt / <alias>.key files', () => {
  let chain: TestChain;
  let pem = '';
  beforeAll(async () => {
    chain = await makeChain('RSA', 'mount separate files');
    pem = chain.leaf.keyPem + chain.leaf.certPem + chain.intermediate.certPem;
  });

  const CSI_CERT = 'array:\n  - |\n    objectName: web\n    objectType: secret\n    objectAlias: appcert\n    filePermission: "0640"\n';
  /** A spec that reads appcert.crt / appcert.key into a Secret (spc-33's shape), and other objects. */
  const readsSeparate = (objects: Record<string, unknown>[] = []): ResolvedKeyVaultSync =>
    resolve({
      objects,
      parameters: { objects: CSI_CERT },
      secretObjects: [{ secretName: 'split', data: [{ objectName: 'appcert.crt', key: 'cert' }, { objectName: 'appcert.key', key: 'key' }] }],
    });
  const certificateFetched = (sync: ResolvedKeyVaultSync, outputName: string, withKey = true, historyIndex = 0): FetchedObject => {
    const object = sync.objects.find((o) => o.outputName === outputName);
    if (object === undefined) throw new Error(outputName);
    const bundle = withKey ? bundleFromKeyVaultSecret(pem, CONTENT_TYPE_PEM) : bundleFromFile(Buffer.from(chain.leaf.certPem));
    return { object, version: `v${historyIndex}`, contentType: CONTENT_TYPE_PEM, updatedOn: undefined, expiresOn: undefined, historyIndex, material: { kind: 'certificate', bundle, secretValue: withKey ? pem : undefined } };
  };

  it('a spec that reads them gets them beside the combined file: the chain and the private key, with the object\'s mode', () => {
    const sync = readsSeparate([{ name: 'db-password', type: 'secret' }]);
    expect(sync.separateCertKeyFiles).toBe(true);
    const payload = payloadFor(sync, [certificateFetched(sync, 'appcert'), ...fetched(sync, { 'db-password': 'pw' }).filter((f) => f.object.outputName === 'db-password')]);
    expect(Object.keys(payload).sort()).toEqual(['appcert', 'appcert.crt', 'appcert.key', 'db-password']);
    expect(payload['appcert.crt']?.data.toString()).toBe(chain.leaf.certPem + chain.intermediate.certPem);
    expect(payload['appcert.key']?.data.toString()).toBe(chain.leaf.keyPem);
    expect(payload.appcert?.data.toString()).toBe(pem);
    for (const f of ['appcert', 'appcert.crt', 'appcert.key']) expect(payload[f]?.mode, f).toBe(0o640);
  });

  it('a spec that does not read them gets the combined file only (the CSI provider\'s default)', () => {
    const sync = resolve({ parameters: { objects: CSI_CERT } });
    expect(sync.separateCertKeyFiles).toBeUndefined();
    expect(Object.keys(payloadFor(sync, [certificateFetched(sync, 'appcert')]))).toEqual(['appcert']);
  });

  it('every certificate with its key gets them, per version with history; public-only material no .key; plain secrets and pfx none', () => {
    const sync = readsSeparate([
      { name: 'tls', type: 'certificate', versionHistory: 2 },
      { name: 'public', type: 'certificate' },
      { name: 'bundle', type: 'certificate', format: 'pfx' },
    ]);
    const pfxObject = sync.objects.find((o) => o.outputName === 'bundle');
    expect(pfxObject?.format).toBe('pfx');
    const payload = payloadFor(sync, [certificateFetched(sync, 'appcert'), certificateFetched(sync, 'tls', true, 0), certificateFetched(sync, 'tls', true, 1), certificateFetched(sync, 'public', false), certificateFetched(sync, 'bundle')]);
    expect(Object.keys(payload).sort()).toEqual(['appcert', 'appcert.crt', 'appcert.key', 'bundle', 'public', 'public.crt', 'tls/0', 'tls/0.crt', 'tls/0.key', 'tls/1', 'tls/1.crt', 'tls/1.key']);
  });

  it('an object whose own alias is <alias>.crt keeps that file', () => {
    const sync = readsSeparate([{ name: 'other', type: 'secret', alias: 'appcert.crt' }]);
    const own = fetched(sync, { 'appcert.crt': 'mine' });
    const payload = payloadFor(sync, [certificateFetched(sync, 'appcert'), ...own]);
    expect(payload['appcert.crt']?.data.toString()).toBe('mine');
    expect(Object.keys(payload).sort()).toEqual(['appcert', 'appcert.crt', 'appcert.key']);
  });
});

describe('MountSidecar', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kvsync-sidecar-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is ready only after a complete write, skips unchanged rounds, keeps the last good files on failure', async () => {
    const sync = resolve({ objects: [{ name: 'a', type: 'secret' }, { name: 'b', type: 'secret' }], refreshInterval: '10s' });
    const rounds: FetchResult[] = [
      // Round 1: b fails → nothing written, not ready.
      { fetched: fetched(sync, { a: 'A1' }), failures: [new SyncError('VaultAccessDenied', 'secret "b" in vault "devkv": forbidden', { object: 'b' })] },
      { fetched: fetched(sync, { a: 'A1', b: 'B1' }), failures: [] },
      { fetched: fetched(sync, { a: 'A1', b: 'B1' }), failures: [] },
      { fetched: [], failures: [new SyncError('VaultUnreachable', 'vault "devkv" unreachable: ECONNREFUSED')] },
      { fetched: fetched(sync, { a: 'A2', b: 'B1' }), failures: [] },
    ];
    const log = new MemoryLog();
    const readyFile = join(dir, 'ready');
    const sidecar = new MountSidecar({ sync, dir: join(dir, 'mnt'), log, readyFile, fetch: () => Promise.resolve(rounds.shift() ?? { fetched: [], failures: [] }) });

    expect(await sidecar.syncOnce()).toEqual({ ok: false, reasons: ['VaultAccessDenied: secret "b" in vault "devkv": forbidden'] });
    expect(sidecar.ready).toBe(false);
    expect(existsSync(join(dir, 'mnt'))).toBe(false);
    expect(existsSync(readyFile)).toBe(false);

    expect(await sidecar.syncOnce()).toEqual({ ok: true, changed: true, files: 2 });
    expect(sidecar.ready).toBe(true);
    expect(readFileSync(readyFile, 'utf8')).toMatch(/^ready /);
    expect(readFileSync(join(dir, 'mnt', 'b'), 'utf8')).toBe('B1');
    const first = readlinkSync(join(dir, 'mnt', '..data'));

    expect(await sidecar.syncOnce()).toEqual({ ok: true, changed: false, files: 2 });
    expect(readlinkSync(join(dir, 'mnt', '..data'))).toBe(first);

    expect((await sidecar.syncOnce()).ok).toBe(false);
    expect(sidecar.ready).toBe(true);
    expect(readFileSync(join(dir, 'mnt', 'a'), 'utf8')).toBe('A1');
    expect(log.lines.some((l) => l.startsWith('warn refresh failed; keeping the last good files') && l.includes('VaultUnreachable'))).toBe(true);

    expect(await sidecar.syncOnce()).toEqual({ ok: true, changed: true, files: 2 });
    expect(readFileSync(join(dir, 'mnt', 'a'), 'utf8')).toBe('A2');
    // Versions and reasons are logged, values never.
    expect(log.lines.join('\n')).not.toMatch(/A1|A2|B1/);
  });

  it('reports a render failure (bad encoding) as a failed round without writing', async () => {
    const sync = resolve({ objects: [{ name: 'a', type: 'secret', encoding: 'hex' }] });
    const sidecar = new MountSidecar({ sync, dir: join(dir, 'mnt'), log: new MemoryLog(), fetch: () => Promise.resolve({ fetched: fetched(sync, { a: 'zz-secret-qq' }), failures: [] }) });
    const outcome = await sidecar.syncOnce();
    expect(outcome.ok).toBe(false);
    expect(JSON.stringify(outcome)).toContain('InvalidSpec');
    expect(JSON.stringify(outcome)).not.toContain('zz-secret-qq');
    expect(existsSync(join(dir, 'mnt'))).toBe(false);
  });

  it('waits the interval plus at most 10 % jitter; backs off on failures up to the interval; 0 waits forever', async () => {
    const sync = resolve({ objects: [{ name: 'a', type: 'secret' }], refreshInterval: '30s' });
    let r = 0;
    const sidecar = new MountSidecar({ sync, dir, log: new MemoryLog(), random: () => r, retryMinMs: 1000, fetch: () => Promise.resolve({ fetched: [], failures: [new SyncError('Throttled', 'throttled')] }) });
    expect(sidecar.nextDelayMs(true)).toBe(30_000);
    r = 0.999;
    expect(sidecar.nextDelayMs(true)).toBeLessThanOrEqual(33_000);
    r = 0;
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      await sidecar.syncOnce();
      delays.push(sidecar.nextDelayMs(false) ?? -1);
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    const once = new MountSidecar({ sync: { ...sync, refreshIntervalMs: 0 }, dir, log: new MemoryLog(), fetch: () => Promise.resolve({ fetched: [], failures: [] }) });
    expect(once.nextDelayMs(true)).toBeUndefined();
  });

  it('run() fetches once for refreshInterval 0 and returns when aborted', async () => {
    const sync = resolve({ objects: [{ name: 'a', type: 'secret' }], refreshInterval: '0' });
    let calls = 0;
    const sidecar = new MountSidecar({
      sync,
      dir: join(dir, 'mnt'),
      log: new MemoryLog(),
      fetch: () => {
        calls++;
        return Promise.resolve({ fetched: fetched(sync, { a: 'x' }), failures: [] });
      },
    });
    const stop = new AbortController();
    const running = sidecar.run(stop.signal);
    const deadline = Date.now() + 5000;
    while (!sidecar.ready && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    expect(sidecar.ready).toBe(true);
    stop.abort();
    await running;
    expect(calls).toBe(1);
    expect(statSync(join(dir, 'mnt', 'a')).mode & 0o777).toBe(0o644);
  });
});

describe('MountSidecar: an object deleted or disabled in Key Vault', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kvsync-sidecar-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const sync = resolve({ objects: [{ name: 'a', type: 'secret' }, { name: 'b', type: 'secret' }], refreshInterval: '10s' });
  const deleted = (): FetchResult => ({ fetched: fetched(sync, { a: 'A2' }), failures: [new SyncError('ObjectNotFound', 'secret "b" in vault "devkv" was not found (HTTP 404 SecretNotFound)', { object: 'b' })] });
  const disabled = (): FetchResult => ({ fetched: fetched(sync, { a: 'A2' }), failures: [new SyncError('ObjectDisabled', 'secret "b" in vault "devkv" is disabled (HTTP 403 Forbidden/SecretDisabled)', { object: 'b' })] });
  const files = (mnt: string): Record<string, string> => ({ a: readFileSync(join(mnt, 'a'), 'utf8'), b: readFileSync(join(mnt, 'b'), 'utf8') });

  it('keeps the whole last good set (no file dropped, no other file updated) and stays ready', async () => {
    const mnt = join(dir, 'mnt');
    const rounds = [{ fetched: fetched(sync, { a: 'A1', b: 'B1' }), failures: [] }, deleted(), disabled(), { fetched: fetched(sync, { a: 'A2', b: 'B1' }), failures: [] }];
    const sidecar = new MountSidecar({ sync, dir: mnt, log: new MemoryLog(), fetch: () => Promise.resolve(rounds.shift() ?? { fetched: [], failures: [] }) });
    expect((await sidecar.syncOnce()).ok).toBe(true);
    const good = readlinkSync(join(mnt, '..data'));
    for (const reason of ['ObjectNotFound', 'ObjectDisabled']) {
      const outcome = await sidecar.syncOnce();
      expect(outcome.ok).toBe(false);
      expect(JSON.stringify(outcome)).toContain(reason);
      expect(sidecar.ready).toBe(true);
      expect(readlinkSync(join(mnt, '..data'))).toBe(good);
      expect(files(mnt)).toEqual({ a: 'A1', b: 'B1' });
    }
    expect(await sidecar.syncOnce()).toEqual({ ok: true, changed: true, files: 2 });
    expect(files(mnt)).toEqual({ a: 'A2', b: 'B1' });
  });

  it('a sidecar restarted while an object is deleted is ready on its previous files at once and writes no set missing it', async () => {
    const mnt = join(dir, 'mnt');
    const readyFile = join(dir, 'ready');
    const first = new MountSidecar({ sync, dir: mnt, log: new MemoryLog(), fetch: () => Promise.resolve({ fetched: fetched(sync, { a: 'A1', b: 'B1' }), failures: [] }) });
    expect((await first.syncOnce()).ok).toBe(true);
    const good = readlinkSync(join(mnt, '..data'));

    // The container restarts (SIGKILL, OOM): a new process on the same volume, b deleted in Key Vault meanwhile.
    const rounds = [deleted(), disabled(), { fetched: fetched(sync, { a: 'A2', b: 'B2' }), failures: [] }];
    const log = new MemoryLog();
    const restarted = new MountSidecar({ sync, dir: mnt, log, readyFile, fetch: () => Promise.resolve(rounds.shift() ?? { fetched: [], failures: [] }) });
    expect(await restarted.adoptPreviousFiles()).toBe(true);
    expect(restarted.ready).toBe(true);
    expect(readFileSync(readyFile, 'utf8')).toMatch(/^ready /);
    for (let i = 0; i < 2; i++) {
      expect((await restarted.syncOnce()).ok).toBe(false);
      expect(readlinkSync(join(mnt, '..data'))).toBe(good);
      expect(files(mnt)).toEqual({ a: 'A1', b: 'B1' });
    }
    expect(log.lines.some((l) => l.startsWith('warn refresh failed; keeping the last good files'))).toBe(true);
    expect(await restarted.syncOnce()).toEqual({ ok: true, changed: true, files: 2 });
    expect(files(mnt)).toEqual({ a: 'A2', b: 'B2' });
  });

  it('previous files that lack an object of the spec are not adopted: not ready, nothing written until a complete set', async () => {
    const mnt = join(dir, 'mnt');
    const onlyA = resolve({ objects: [{ name: 'a', type: 'secret' }], refreshInterval: '10s' });
    const first = new MountSidecar({ sync: onlyA, dir: mnt, log: new MemoryLog(), fetch: () => Promise.resolve({ fetched: fetched(onlyA, { a: 'A1' }), failures: [] }) });
    expect((await first.syncOnce()).ok).toBe(true);
    const good = readlinkSync(join(mnt, '..data'));
    const restarted = new MountSidecar({ sync, dir: mnt, log: new MemoryLog(), fetch: () => Promise.resolve(deleted()) });
    expect(await restarted.adoptPreviousFiles()).toBe(false);
    expect((await restarted.syncOnce()).ok).toBe(false);
    expect(restarted.ready).toBe(false);
    expect(readlinkSync(join(mnt, '..data'))).toBe(good);
    expect(existsSync(join(mnt, 'b'))).toBe(false);
    // An empty volume (a new pod) adopts nothing either.
    const fresh = new MountSidecar({ sync, dir: join(dir, 'empty'), log: new MemoryLog(), fetch: () => Promise.resolve(deleted()) });
    expect(await fresh.adoptPreviousFiles()).toBe(false);
    expect(fresh.ready).toBe(false);
  });
});

describe('MountSidecar.refreshNow', () => {
  it('ends the wait at once (refreshInterval 0 would otherwise wait forever)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvsync-sidecar-'));
    try {
      const sync = resolve({ objects: [{ name: 'a', type: 'secret' }], refreshInterval: '0' });
      let value = 1;
      let calls = 0;
      const sidecar = new MountSidecar({
        sync,
        dir,
        log: new MemoryLog(),
        fetch: () => {
          calls++;
          return Promise.resolve({ fetched: fetched(sync, { a: String(value) }), failures: [] });
        },
      });
      const stop = new AbortController();
      const running = sidecar.run(stop.signal);
      const until = async (cond: () => boolean): Promise<void> => {
        const deadline = Date.now() + 5000;
        while (!cond()) {
          if (Date.now() > deadline) throw new Error('timed out');
          await new Promise((res) => setTimeout(res, 5));
        }
      };
      await until(() => readOr(join(dir, 'a')) === '1');
      value = 2;
      sidecar.refreshNow();
      await until(() => readOr(join(dir, 'a')) === '2');
      expect(calls).toBe(2);
      stop.abort();
      await running;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

describe('podCredential', () => {
  const env = defaultAzureEnvironment();
  const WI_CLIENT = '33333333-4444-4555-8666-777777777777';
  const POD_CLIENT = '44444444-5555-4666-8777-888888888888';
  it('workload identity from the standard environment; names what is missing', () => {
    const sync = resolve({ identity: { workloadIdentity: { serviceAccountName: 'shop' } }, objects: [{ name: 'a', type: 'secret' }] });
    expect(() => podCredential(sync, env, {})).toThrow(/AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID/);
    const c = podCredential(sync, env, { AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token', AZURE_CLIENT_ID: WI_CLIENT });
    expect((c.credential as BoundedCredential).inner).toBeInstanceOf(WorkloadIdentityCredential);
    expect(c.description).toBe(`workloadIdentity client ${WI_CLIENT} tenant ${TENANT}`);
  });

  it('pod identity and managed identity through IMDS at the environment host; servicePrincipal refused', () => {
    const pod = podCredential(resolve({ objects: [{ name: 'a', type: 'secret' }] }), { ...env, imdsHost: 'http://127.0.0.1:2579' }, { AZURE_CLIENT_ID: POD_CLIENT });
    expect((pod.credential as BoundedCredential).inner).toBeInstanceOf(ImdsCredential);
    expect(pod.description).toBe(`podIdentity via IMDS http://127.0.0.1:2579 client ${POD_CLIENT}`);
    const sp = resolve({ identity: { servicePrincipal: { secretRef: { name: 'creds' } } }, objects: [{ name: 'a', type: 'secret' }] });
    expect(() => podCredential(sp, env, {})).toThrow(expect.objectContaining({ reason: 'IdentityNotSupported' }) as Error);
  });

  it('refuses a client ID that is not a GUID before use, never quoting it', () => {
    const wi = resolve({ identity: { workloadIdentity: { serviceAccountName: 'shop' } }, objects: [{ name: 'a', type: 'secret' }] });
    const token = { AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token' };
    const refusal = (f: () => unknown): Error => {
      try {
        f();
      } catch (err) {
        return err as Error;
      }
      throw new Error('not refused');
    };
    const a = refusal(() => podCredential(wi, env, { ...token, AZURE_CLIENT_ID: 'hunter2' }));
    expect(a).toMatchObject({ reason: 'InvalidSpec' });
    expect(a.message).not.toContain('hunter2');
    expect(refusal(() => podCredential(resolve({ objects: [{ name: 'a', type: 'secret' }] }), env, { AZURE_CLIENT_ID: 'hunter2' }))).toMatchObject({ reason: 'InvalidSpec' });
  });
});

describe('parseMountSpec', () => {
  it('takes a whole KeyVaultSync or a bare spec; refuses an invalid one with InvalidSpec', () => {
    const spec = { vault: { name: 'devkv', tenantID: TENANT }, identity: { podIdentity: { identityRef: 'pod' } }, objects: [{ name: 'a', type: 'secret' }] };
    expect(parseMountSpec(JSON.stringify(spec)).objects.map((o) => o.name)).toEqual(['a']);
    expect(parseMountSpec(JSON.stringify({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name: 'x' }, spec })).name).toBe('x');
    expect(() => parseMountSpec('{"vault": 3}')).toThrow(expect.objectContaining({ reason: 'InvalidSpec' }) as Error);
    expect(() => parseMountSpec('{')).toThrow(/neither JSON nor YAML/);
  });
});

describe('readiness server', () => {
  it('/readyz is 503 until ready, then 200; /healthz 200; anything else 404', async () => {
    let ready = false;
    const server = await startReadinessServer(0, '127.0.0.1', () => ready);
    try {
      const status = async (path: string): Promise<number> => (await fetch(`http://127.0.0.1:${server.port}${path}`)).status;
      expect(await status('/readyz')).toBe(503);
      expect(await status('/healthz')).toBe(200);
      ready = true;
      expect(await status('/readyz')).toBe(200);
      expect(await status('/secrets')).toBe(404);
    } finally {
      await server.close();
    }
  });
});
