/**
 * `kvsync mount` as the sidecar runs it: a spawned `node src/cli.ts mount` against the real emulator,
 * authenticating with pod identity through the emulator's IMDS (AZURE_CLIENT_ID of its managed identity).
 * Files appear with the right contents and modes; a new secret version shows up after a refresh; an
 * outage injected through the admin faults leaves the old files; a concurrent reader never sees a
 * partial or mixed set during 100 rotations; SIGTERM exits 0.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../../src/emulator/server.ts';
import { clientsFor } from '../emulator/kv-support.ts';
import { startMountProcess } from '../../support/mount-process.ts';

const PASSWORD_V1 = 'mount-pw-v1-5c2e';
const PASSWORD_V2 = 'mount-pw-v2-77aa';
const PASSWORD_V3 = 'mount-pw-v3-0b91';

let emu: RunningEmulator;
let work = '';

const startMount = startMountProcess;

async function waitFor<T>(what: string | (() => string), probe: () => T | undefined | false, timeoutMs = 30_000, pollMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

const readOr = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

function admin(method: string, path: string, body?: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${emu.endpoints.adminUrl}${path}`, { method, ca: emu.caPem, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'kvsync-mount-'));
  emu = await startEmulator({
    stateDir: join(work, 'state'),
    log: () => undefined,
    configDocument: {
      vaults: [
        {
          name: 'devkv',
          secrets: [
            { name: 'db-password', value: PASSWORD_V1 },
            { name: 'gen', value: '1' },
          ],
          certificates: [{ name: 'web-tls', issuer: 'EmulatorTestCA', subject: 'CN=shop.example', dnsNames: ['shop.example'] }],
        },
      ],
      managedIdentities: [{ name: 'pod-identity' }],
    },
  });
});

afterAll(async () => {
  await emu.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('kvsync mount against the emulator (pod identity via IMDS)', () => {
  it('writes the files, becomes ready, rotates, keeps the last good files during an outage, exits 0 on SIGTERM', async () => {
    const dir = join(work, 'secrets-store');
    const readyFile = join(work, 'ready');
    const specFile = join(work, 'spec.json');
    writeFileSync(
      specFile,
      JSON.stringify({
        apiVersion: 'kvsync.dev/v1alpha1',
        kind: 'KeyVaultSync',
        metadata: { name: 'shop', namespace: 'shop' },
        spec: {
          vault: { name: 'devkv', tenantID: emu.endpoints.tenantID },
          identity: { podIdentity: { identityRef: 'pod-identity' } },
          objects: [
            { name: 'db-password', type: 'secret', alias: 'password', filePermission: '0600' },
            { name: 'web-tls', type: 'certificate' },
            { name: 'web-tls', type: 'certificate', alias: 'web.pfx', format: 'pfx' },
          ],
          refreshInterval: '10s',
        },
      }),
    );
    const clientId = emu.config.managedIdentities.find((m) => m.name === 'pod-identity')?.clientId ?? '';
    const asRoot = process.getuid?.() === 0;
    const sidecar = startMount(
      ['--spec-file', specFile, '--dir', dir, '--azure-endpoints', join(work, 'state', 'endpoints.json'), '--ready-file', readyFile, '--ready-port', '0', ...(asRoot ? ['--uid', '1234', '--gid', '5678'] : [])],
      { AZURE_CLIENT_ID: clientId },
    );
    try {
      // Ready after the first complete write, and the files are there.
      await waitFor('the ready file', () => existsSync(readyFile), 45_000);
      const port = await waitFor('the readiness port', () => sidecar.lines.map((l) => /"port":(\d+)/.exec(l)?.[1]).find((p) => p !== undefined));
      expect(await httpStatus(`http://127.0.0.1:${port}/readyz`)).toBe(200);
      expect(await httpStatus(`http://127.0.0.1:${port}/healthz`)).toBe(200);

      const dataDir = readlinkSync(join(dir, '..data'));
      expect(dataDir).toMatch(/^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d{9}$/);
      expect(readdirSync(dir).sort()).toEqual(['..data', dataDir, 'password', 'web-tls', 'web.pfx'].sort());
      expect(readlinkSync(join(dir, 'password'))).toBe('..data/password');
      expect(readFileSync(join(dir, 'password'), 'utf8')).toBe(PASSWORD_V1);
      expect(statSync(join(dir, 'password')).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'web-tls')).mode & 0o777).toBe(0o644);
      if (asRoot) expect([statSync(join(dir, 'password')).uid, statSync(join(dir, 'password')).gid]).toEqual([1234, 5678]);

      // The certificate as PEM: the private key, then the chain, leaf first.
      const pem = readFileSync(join(dir, 'web-tls'), 'utf8');
      expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
      expect(certs.length).toBeGreaterThanOrEqual(2);
      const leaf = new X509Certificate(certs[0] ?? '');
      expect(leaf.subject).toBe('CN=shop.example');
      expect(leaf.checkIssued(new X509Certificate(certs[1] ?? ''))).toBe(true);
      // objectFormat pfx: PKCS#12 bytes holding the same leaf.
      // Key Vault's PFX opens with the null password.
      const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(readFileSync(join(dir, 'web.pfx')).toString('binary')), false);
      const certBag = forge.pki.oids.certBag ?? '';
      const bags: forge.pkcs12.Bag[] = p12.getBags({ bagType: certBag })[certBag] ?? [];
      expect(bags.map((b) => (b.cert?.subject.getField('CN') as { value?: string } | null)?.value)).toContain('shop.example');

      // Nothing is logged with a value.
      expect(sidecar.lines.join('\n')).not.toContain(PASSWORD_V1);

      // A new version shows up after a refresh, through a new timestamped directory.
      const { secrets } = clientsFor(emu);
      await secrets.setSecret('db-password', PASSWORD_V2);
      await waitFor('the new version on disk', () => readOr(join(dir, 'password')) === PASSWORD_V2, 30_000);
      expect(readlinkSync(join(dir, '..data'))).not.toBe(dataDir);
      // The old directory goes right after the switch (the file may be read between the two).
      await waitFor('the old timestamped directory removed', () => readdirSync(dir).filter((n) => n.startsWith('..2')).length === 1);

      // An outage: every vault request answers 503. The refresh fails and the files stay as they were.
      expect(await admin('POST', '/faults', { status: 503, durationSeconds: 120 })).toBe(201);
      await secrets.setSecret('db-password', PASSWORD_V3).catch(() => undefined); // the fault applies to this client too
      const failedBefore = sidecar.lines.filter((l) => l.includes('keeping the last good files')).length;
      await waitFor('a failed refresh', () => sidecar.lines.filter((l) => l.includes('keeping the last good files')).length > failedBefore, 30_000);
      expect(readFileSync(join(dir, 'password'), 'utf8')).toBe(PASSWORD_V2);
      expect(readFileSync(join(dir, 'web-tls'), 'utf8')).toBe(pem);
      expect(await httpStatus(`http://127.0.0.1:${port}/readyz`)).toBe(200);
      const failure = sidecar.lines.find((l) => l.includes('keeping the last good files')) ?? '';
      expect(failure).toMatch(/VaultUnreachable|Throttled|ServiceUnavailable|503/);
      expect(failure).not.toContain(PASSWORD_V2);

      // The outage ends: the sidecar recovers on its backoff.
      expect(await admin('DELETE', '/faults')).toBeLessThan(300);
      await secrets.setSecret('db-password', PASSWORD_V3);
      await waitFor('the version written after the outage', () => readOr(join(dir, 'password')) === PASSWORD_V3, 30_000);

      sidecar.child.kill('SIGTERM');
      expect(await sidecar.exit).toBe(0);
    } finally {
      if (sidecar.child.exitCode === null) sidecar.child.kill('SIGKILL');
    }
  }, 150_000);

  it('a concurrent reader never observes a partial or mixed set during 100 rotations (SIGHUP-driven)', async () => {
    const { secrets } = clientsFor(emu);
    await secrets.setSecret('gen', '2');
    const dir = join(work, 'rotations');
    const readyFile = join(work, 'rotations-ready');
    // Two objects from one secret: "current" and "history/0|1" (newest two versions). In every
    // generation N: current = history/0 = N and history/1 = N-1, so a mixed set is detectable.
    const spec = {
      vault: { name: 'devkv', tenantID: emu.endpoints.tenantID },
      identity: { podIdentity: { identityRef: 'pod-identity' } },
      objects: [
        { name: 'gen', type: 'secret', alias: 'current' },
        { name: 'gen', type: 'secret', alias: 'history', versionHistory: 2 },
      ],
      refreshInterval: '0',
    };
    const clientId = emu.config.managedIdentities.find((m) => m.name === 'pod-identity')?.clientId ?? '';
    const sidecar = startMount(['--spec-json', JSON.stringify(spec), '--dir', dir, '--azure-endpoints', join(work, 'state', 'endpoints.json'), '--ready-file', readyFile], { AZURE_CLIENT_ID: clientId });
    try {
      await waitFor('the ready file', () => existsSync(readyFile), 45_000);
      expect(readFileSync(join(dir, 'current'), 'utf8')).toBe('2');

      const failures: string[] = [];
      const seen = new Set<number>();
      let snapshots = 0;
      let retries = 0;
      let driving = true;
      const num = (text: string, what: string): number => {
        if (!/^\d+$/.test(text)) throw new Error(`partial ${what}: ${JSON.stringify(text)}`);
        return Number(text);
      };
      const reader = (async (): Promise<void> => {
        while (driving) {
          for (let i = 0; i < 10; i++) {
            try {
              const snap = realpathSync(join(dir, '..data'));
              const current = num(readFileSync(join(snap, 'current'), 'utf8'), 'current');
              const h0 = num(readFileSync(join(snap, 'history', '0'), 'utf8'), 'history/0');
              const h1 = num(readFileSync(join(snap, 'history', '1'), 'utf8'), 'history/1');
              if (current !== h0 || h1 !== h0 - 1) failures.push(`mixed set: current=${current} history/0=${h0} history/1=${h1}`);
              seen.add(current);
              snapshots++;
              num(readFileSync(join(dir, 'current'), 'utf8'), 'current via its symlink');
            } catch (err) {
              if (['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) retries++;
              else failures.push((err as Error).message);
            }
          }
          await new Promise((r) => setImmediate(r));
        }
      })();

      const started = Date.now();
      for (let gen = 3; gen <= 102; gen++) {
        // Key Vault's `created` has a resolution of one second, and versions made in one second have no
        // knowable order (Key Vault lists them by version id). Each generation is made in a second of
        // its own, so "history/1 is the previous generation" is a fact the sidecar can know.
        emu.clock.shift(Math.floor(emu.clock.nowMs() / 1000) * 1000 + 1000 - emu.clock.nowMs());
        await secrets.setSecret('gen', String(gen));
        sidecar.child.kill('SIGHUP');
        await waitFor(() => `generation ${gen} on disk (sidecar: ${sidecar.lines.slice(-3).join(' | ')})`, () => readOr(join(dir, 'current')) === String(gen), 20_000, 5);
      }
      const rotationMs = Date.now() - started;
      driving = false;
      await reader;
      console.log(`[mount] 100 rotations through the sidecar in ${rotationMs} ms; reader: ${snapshots} snapshots, ${retries} ENOENT retries, ${seen.size} generations seen`);
      expect(failures.slice(0, 5)).toEqual([]);
      expect(snapshots).toBeGreaterThan(100);
      expect(seen.size).toBeGreaterThan(10);
      await waitFor('the old timestamped directory removed', () => readdirSync(dir).filter((n) => n.startsWith('..2')).length === 1);
      sidecar.child.kill('SIGTERM');
      expect(await sidecar.exit).toBe(0);
    } finally {
      if (sidecar.child.exitCode === null) sidecar.child.kill('SIGKILL');
    }
  }, 180_000);

  it('a SecretProviderClass that reads <alias>.crt / <alias>.key gets those files too, switched with the rest through ..data', async () => {
    const dir = join(work, 'separate');
    const readyFile = join(work, 'separate-ready');
    // spc-33's shape: a CSI secret object (a certificate's backing secret) whose separate files a
    // Secret reads, as on a cluster where the provider ran with --write-cert-and-key-in-separate-files.
    const spec = {
      vault: { name: 'devkv', tenantID: emu.endpoints.tenantID },
      identity: { podIdentity: { identityRef: 'pod-identity' } },
      parameters: { objects: 'array:\n  - |\n    objectName: web-tls\n    objectType: secret\n    objectAlias: appcert\n    filePermission: "0640"\n' },
      secretObjects: [{ secretName: 'split', data: [{ objectName: 'appcert.crt', key: 'cert' }, { objectName: 'appcert.key', key: 'key' }] }],
      refreshInterval: '10s',
    };
    const clientId = emu.config.managedIdentities.find((m) => m.name === 'pod-identity')?.clientId ?? '';
    const sidecar = startMount(['--spec-json', JSON.stringify(spec), '--dir', dir, '--azure-endpoints', join(work, 'state', 'endpoints.json'), '--ready-file', readyFile], { AZURE_CLIENT_ID: clientId });
    /** The leaf of appcert.crt, after checking that appcert.key is its key and the combined file holds both. */
    const consistentLeaf = (): X509Certificate => {
      const snap = realpathSync(join(dir, '..data'));
      const crt = readFileSync(join(snap, 'appcert.crt'), 'utf8');
      const key = readFileSync(join(snap, 'appcert.key'), 'utf8');
      const leaf = new X509Certificate(crt.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)?.[0] ?? '');
      expect(key).toMatch(/^-----BEGIN PRIVATE KEY-----[\s\S]*-----END PRIVATE KEY-----\n$/);
      expect(crt).not.toContain('PRIVATE KEY');
      expect(leaf.checkPrivateKey(createPrivateKey(key))).toBe(true);
      expect(readFileSync(join(snap, 'appcert'), 'utf8')).toBe(key + crt);
      return leaf;
    };
    try {
      await waitFor('the ready file', () => existsSync(readyFile), 45_000);
      const dataDir = readlinkSync(join(dir, '..data'));
      expect(readdirSync(dir).sort()).toEqual(['..data', dataDir, 'appcert', 'appcert.crt', 'appcert.key'].sort());
      for (const f of ['appcert', 'appcert.crt', 'appcert.key']) {
        expect(readlinkSync(join(dir, f)), f).toBe(`..data/${f}`);
        expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o640);
      }
      const first = consistentLeaf();
      expect(first.subject).toBe('CN=shop.example');

      // A new certificate version: all three files move to it in one switch of ..data.
      const created = await clientsFor(emu).certificates.beginCreateCertificate('web-tls', { issuerName: 'Self', subject: 'CN=rotated.example' }, { intervalInMs: 50 });
      await created.pollUntilDone();
      sidecar.child.kill('SIGHUP');
      await waitFor('the new certificate on disk', () => readlinkSync(join(dir, '..data')) !== dataDir && /rotated/.test(readOr(join(dir, 'appcert.crt')) === undefined ? '' : new X509Certificate(readOr(join(dir, 'appcert.crt')) ?? '').subject), 30_000);
      expect(consistentLeaf().subject).toBe('CN=rotated.example');
      sidecar.child.kill('SIGTERM');
      expect(await sidecar.exit).toBe(0);
    } finally {
      if (sidecar.child.exitCode === null) sidecar.child.kill('SIGKILL');
    }
  }, 120_000);

  it('exits 2 for an invalid spec and for a servicePrincipal identity, naming the reason', async () => {
    const bad = startMount(['--spec-json', '{"vault":{"name":"devkv"},"objects":"nope"}', '--dir', join(work, 'bad')], {});
    expect(await bad.exit).toBe(2);
    expect(bad.lines.join('\n')).toMatch(/InvalidSpec: .*objects/);
    const sp = startMount(['--spec-json', JSON.stringify({ vault: { name: 'devkv', tenantID: emu.endpoints.tenantID }, identity: { servicePrincipal: { secretRef: { name: 'x' } } }, objects: [{ name: 'a', type: 'secret' }] }), '--dir', join(work, 'sp')], {});
    expect(await sp.exit).toBe(2);
    expect(sp.lines.join('\n')).toMatch(/IdentityNotSupported/);
    expect(existsSync(join(work, 'bad'))).toBe(false);
  });
});
