/**
 * `kvsync emulator` as a user runs it: spawn `node src/cli.ts emulator --state-dir DIR --data FILE`,
 * wait for endpoints.json, run a script that uses only the Azure SDK and endpoints.json, then stop the
 * emulator (SIGTERM), start it again on the same data file and find the objects again.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEndpointsFile } from '../../../src/keyvault/endpoints-file.ts';
import { startEmulator } from '../../../src/emulator/server.ts';
import { clientsFor } from './kv-support.ts';

const execFileAsync = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..', '..');
let dir: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvsync-emulator-cli-'));
});
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startCli(stateDir: string, dataFile: string): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(process.execPath, [join(repo, 'src', 'cli.ts'), 'emulator', '--state-dir', stateDir, '--data', dataFile], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  children.push(child);
  return { child, output: () => out };
}

async function stopCli(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  return exited;
}

describe('kvsync emulator CLI', () => {
  it('serves a script that uses only the Azure SDK and endpoints.json, and persists with --data', async () => {
    const stateDir = join(dir, 'state');
    const dataFile = join(dir, 'vaults.json');
    const { child, output } = startCli(stateDir, dataFile);
    const endpointsFile = join(stateDir, 'endpoints.json');
    await waitFor('endpoints.json', () => (existsSync(endpointsFile) && output().includes('export AZURE_AUTHORITY_HOST') ? true : undefined));
    const endpoints = await readEndpointsFile(endpointsFile);
    expect(Object.keys(endpoints).sort()).toEqual(['admin', 'adminUrl', 'authorityHost', 'caFile', 'imdsEndpoint', 'resolve', 'tenantID', 'vaults']);
    expect(endpoints.authorityHost).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(endpoints.imdsEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(endpoints.vaults.devkv).toMatch(/^https:\/\/devkv\.vault\.azure\.net:\d+$/);
    expect(endpoints.resolve).toEqual({ 'devkv.vault.azure.net': '127.0.0.1' });
    expect(readFileSync(endpoints.caFile, 'utf8')).toContain('BEGIN CERTIFICATE');
    expect(output()).toContain(`export AZURE_TENANT_ID=${endpoints.tenantID}`);
    // The admin secret is in endpoints.json only, never printed.
    expect(output()).not.toContain(endpoints.admin.clientSecret);

    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '5', '-subj', '/CN=import.example'], { cwd: dir, stdio: 'pipe' });
    execFileSync('openssl', ['pkcs12', '-export', '-inkey', 'k.pem', '-in', 'c.pem', '-out', 'i.pfx', '-passout', 'pass:'], { cwd: dir, stdio: 'pipe' });
    const { stdout } = await execFileAsync(process.execPath, [join(repo, 'test', 'integration', 'emulator', 'sdk-script.ts'), endpointsFile, join(dir, 'i.pfx')], { cwd: repo, timeout: 60_000 });
    const summary = JSON.parse(stdout) as { setVersion: string; readMatches: boolean; importedSecretContentType: string; secretNames: string[]; certificateNames: string[] };
    expect(summary.readMatches).toBe(true);
    expect(summary.importedSecretContentType).toBe('application/x-pkcs12');
    expect(summary.secretNames).toEqual(['from-script', 'script-cert', 'script-import']);
    expect(summary.certificateNames).toEqual(['script-cert', 'script-import']);

    expect(await stopCli(child)).toBe(0);
    expect(statSync(dataFile).mode & 0o777).toBe(0o600);

    // Same data file, new run: the objects are still there (new CA, new ports, same contents).
    const again = await startEmulator({ dataFile, log: () => undefined });
    try {
      const c = clientsFor(again);
      const secret = await c.secrets.getSecret('from-script');
      expect(secret.value).toBe('script-value');
      expect(secret.properties.version).toBe(summary.setVersion);
      expect((await c.certificates.getCertificate('script-import')).properties.vaultUrl).toBe(again.endpoints.vaults.devkv);
    } finally {
      await again.stop();
    }
  });

  it('fails clearly on an invalid config and on bad flags', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'vaults:\n  - name: "x"\n');
    const r = await execFileAsync(process.execPath, [join(repo, 'src', 'cli.ts'), 'emulator', '--config', bad, '--state-dir', join(dir, 's2')], { cwd: repo }).catch((e: { code: number; stderr: string }) => e);
    expect(r).toMatchObject({ code: 1 });
    expect((r as { stderr: string }).stderr).toContain('config vaults[0].name: must be 3-24 letters');
    const flags = await execFileAsync(process.execPath, [join(repo, 'src', 'cli.ts'), 'emulator', '--bogus'], { cwd: repo }).catch((e: { code: number }) => e);
    expect(flags).toMatchObject({ code: 2 });
  });
});
