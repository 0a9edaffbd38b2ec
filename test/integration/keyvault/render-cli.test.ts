/**
 * `kvsync render` as a user runs it: a spawned `node src/cli.ts render -f FILE --azure-endpoints FILE`
 * against the emulator (its admin principal, TLS and challenge-resource verification on).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { startEmulator, type RunningEmulator } from '../../../src/emulator/server.ts';

const repo = join(import.meta.dirname, '..', '..', '..');
const CLI = join(repo, 'src', 'cli.ts');
const PASSWORD = 'render-pw-93a1d';

let emu: RunningEmulator;
let dir = '';
let endpointsFile = '';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function render(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    // A clean environment: no AZURE_* from the developer's shell.
    const childEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env };
    execFile(process.execPath, [CLI, 'render', ...args], { cwd: repo, env: childEnv, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

function syncFile(name: string, objects: unknown[], secretObjects: unknown[]): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `# a comment\n---\n${JSON.stringify({
      apiVersion: 'kvsync.dev/v1alpha1',
      kind: 'KeyVaultSync',
      metadata: { name, namespace: 'shop' },
      spec: { vault: { name: 'devkv', tenantID: emu.endpoints.tenantID }, identity: { workloadIdentity: { serviceAccountName: 'shop' } }, objects, secretObjects },
    })}\n`,
  );
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kvsync-render-'));
  emu = await startEmulator({
    stateDir: join(dir, 'state'),
    log: () => undefined,
    configDocument: {
      vaults: [
        {
          name: 'devkv',
          secrets: [{ name: 'db-password', value: PASSWORD }],
          certificates: [{ name: 'web-tls', issuer: 'EmulatorTestCA', subject: 'CN=shop.example', dnsNames: ['shop.example'], contentType: 'application/x-pem-file' }],
        },
      ],
    },
  });
  endpointsFile = join(dir, 'state', 'endpoints.json');
});

afterAll(async () => {
  await emu.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('kvsync render', () => {
  const objects = [
    { name: 'db-password', type: 'secret', alias: 'password' },
    { name: 'web-tls', type: 'certificate' },
  ];
  const secretObjects = [
    { secretName: 'shop-db', type: 'Opaque', data: [{ objectName: 'password', key: 'DB_PASSWORD' }] },
    { secretName: 'shop-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'web-tls' }] },
  ];

  it('prints the Secrets with values redacted', async () => {
    const r = await render(['-f', syncFile('shop', objects, secretObjects), '--azure-endpoints', endpointsFile]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(PASSWORD);
    expect(r.stdout).not.toContain(Buffer.from(PASSWORD).toString('base64'));
    expect(r.stdout).not.toContain('PRIVATE KEY');
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind: string; type: string; metadata: { name: string; namespace: string; labels: Record<string, string> }; data: Record<string, string> });
    expect(docs.map((d) => [d.kind, d.metadata.name, d.metadata.namespace, d.type])).toEqual([
      ['Secret', 'shop-db', 'shop', 'Opaque'],
      ['Secret', 'shop-tls', 'shop', 'kubernetes.io/tls'],
    ]);
    expect(docs[0]?.data).toEqual({ DB_PASSWORD: `<redacted: ${PASSWORD.length} bytes>` });
    expect(Object.keys(docs[1]?.data ?? {})).toEqual(['tls.crt', 'tls.key']);
    expect(docs[1]?.data['tls.crt']).toMatch(/^<redacted: \d+ bytes>$/);
    expect(docs[1]?.metadata.labels['app.kubernetes.io/managed-by']).toBe('kvsync');
  });

  it('--show-values prints the data base64-encoded, as in a Secret', async () => {
    const r = await render(['-f', syncFile('shown', objects, secretObjects), '--azure-endpoints', endpointsFile, '--show-values']);
    expect(r.code).toBe(0);
    const [db, tls] = parseAllDocuments(r.stdout).map((d) => d.toJS() as { data: Record<string, string> });
    expect(Buffer.from(db?.data.DB_PASSWORD ?? '', 'base64').toString()).toBe(PASSWORD);
    expect(new X509Certificate(Buffer.from(tls?.data['tls.crt'] ?? '', 'base64')).subject).toBe('CN=shop.example');
  });

  it('exits 1 naming the object and reason when a required object is missing; nothing is printed', async () => {
    const r = await render(['-f', syncFile('missing', [{ name: 'no-such', type: 'secret' }], [{ secretName: 's', data: [{ objectName: 'no-such' }] }]), '--azure-endpoints', endpointsFile]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/KeyVaultSync shop\/missing: ObjectNotFound: secret "no-such" in vault "devkv" was not found/);
  });

  it('exits 2 without credentials, and for an invalid KeyVaultSync', async () => {
    const noCreds = await render(['-f', syncFile('nocreds', objects, secretObjects)]);
    expect(noCreds.code).toBe(2);
    expect(noCreds.stderr).toMatch(/AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: kvsync.dev/v1alpha1\nkind: KeyVaultSync\nmetadata: {name: bad}\nspec: {vault: {name: devkv}}\n');
    const invalid = await render(['-f', bad, '--azure-endpoints', endpointsFile]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/document 1: .*spec/);
    expect(parseYaml(invalid.stdout === '' ? 'null' : invalid.stdout)).toBeNull();
  });
});
