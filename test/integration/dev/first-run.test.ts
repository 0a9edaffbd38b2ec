import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';

const cli = new URL('../../../src/cli.ts', import.meta.url).pathname;

describe('kvsync dev (npm run dev): the first run', () => {
  let cwd = '';
  afterAll(async () => {
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('syncs the sample certificate and secret into Secrets, follows a rotation, prints no secret value and exits 0', async () => {
    cwd = await mkdtemp(join(tmpdir(), 'kvsync-first-run-'));
    const child = spawn(process.execPath, [cli, 'dev'], {
      cwd,
      env: { ...process.env, KVSYNC_KUBE_BIN_DIR: inject('kubeBinDir') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));

    expect(out, out).toContain('the demo worked');
    expect(code).toBe(0);
    expect(out).toMatch(/KeyVaultSync shop\/shop: .*Ready=True/);
    expect(out).toMatch(/Secret shop\/shop-tls: type kubernetes\.io\/tls, tls\.crt \(\d+ bytes\), tls\.key \(\d+ bytes\)/);
    expect(out).toContain('tls.crt chain: CN=shop.example → issued by → CN=EmulatorTestCA Intermediate CA');
    expect(out).toMatch(/Secret shop\/shop-db: type Opaque, DB_PASSWORD \(\d+ bytes\)/);
    expect(out).toMatch(/synced db-password version [0-9a-f]{32}: .*Ready=True/);
    // The seeded value (samples/emulator.yaml), the rotated one and the principal's secret never show.
    expect(out).not.toContain('correct-horse-battery-staple');
    expect(out).not.toMatch(/rotated-\d+/);
    expect(out).not.toContain('demo-client-secret');
    expect(out).not.toContain('PRIVATE KEY');
  });
});
