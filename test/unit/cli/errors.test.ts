/**
 * Errors of the installed `kvsync` name the culprit in one line: a mistyped flag (with the command's
 * usage), a kubeconfig that cannot be read or written, a vault that cannot be reached.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../src/util/poll.ts';
import { installKvsync, repoRoot, type InstalledKvsync } from '../../support/installed-command.ts';

let kvsync: InstalledKvsync;
let dir: string;

beforeAll(async () => {
  kvsync = await installKvsync();
  dir = mkdtempSync(join(tmpdir(), 'kvsync-cli-errors-'));
}, 150_000);

afterAll(() => {
  kvsync?.remove();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('kvsync errors name the culprit', { timeout: 60_000 }, () => {
  for (const command of ['controller', 'convert', 'dev', 'emulator', 'mount', 'render']) {
    it(`kvsync ${command} --bogus: "unknown flag --bogus", then the usage`, async () => {
      const result = await kvsync.run([command, '--bogus']);
      expect(result.code).toBe(2);
      const [first, blank, usage] = result.stderr.split('\n');
      expect(first).toBe(`kvsync ${command}: unknown flag --bogus`);
      expect(blank).toBe('');
      expect(usage).toMatch(/^usage:/);
    });
  }

  it('a flag without its value says which flag', async () => {
    const result = await kvsync.run(['render', '-f', 'x.yaml', '--azure-endpoints']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe('kvsync render: --azure-endpoints needs a value');
  });

  it('kvsync dev control-plane with a mistyped flag: a clean message, no parseArgs text', async () => {
    const result = await kvsync.run(['dev', 'control-plane', '--kubeconfg', join(dir, 'kc')]);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe('kvsync dev: unknown flag --kubeconfg');
    expect(result.stderr).toContain('kvsync dev control-plane --kubeconfig FILE');
    expect(result.stderr).not.toContain('positional argument');
  });

  it('kvsync controller --kubeconfig MISSING names the flag and the file', async () => {
    const missing = join(dir, 'no-such-kubeconfig');
    const result = await kvsync.run(['controller', '--kubeconfig', missing]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`kvsync controller: --kubeconfig ${missing}: no such file\n`);
  });

  it('kvsync dev control-plane --kubeconfig in a missing folder fails before starting anything', async () => {
    const target = join(dir, 'no-such-folder', 'kc');
    const result = await kvsync.run(['dev', 'control-plane', '--kubeconfig', target]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`kvsync dev control-plane: --kubeconfig ${target}: cannot create it in ${join(dir, 'no-such-folder')} (no such folder)\n`);
    expect(result.stdout).toBe('');
  });

  it('kvsync dev control-plane --kubeconfig on a folder fails before starting anything', async () => {
    const result = await kvsync.run(['dev', 'control-plane', '--kubeconfig', dir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`kvsync dev control-plane: --kubeconfig ${dir}: is a directory\n`);
  });

  it('kvsync render with the emulator down: one line per KeyVaultSync, in the words of a user', async () => {
    // An emulator that wrote its endpoints.json and then stopped: the vault refuses connections.
    const stateDir = join(dir, 'emu');
    const emulator = spawn('kvsync', ['emulator', '--config', join(repoRoot, 'samples', 'emulator.yaml'), '--state-dir', stateDir], { env: kvsync.env, stdio: 'ignore' });
    const endpoints = join(stateDir, 'endpoints.json');
    try {
      await pollUntil(() => (existsSync(endpoints) ? true : undefined), { timeoutMs: 45_000, description: 'the emulator to write endpoints.json' });
    } finally {
      emulator.kill('SIGTERM');
    }
    await pollUntil(() => (emulator.exitCode !== null || emulator.signalCode !== null ? true : undefined), { timeoutMs: 20_000, description: 'the emulator to stop' });
    const result = await kvsync.run(['render', '-f', join(repoRoot, 'samples', 'shop.yaml'), '--azure-endpoints', endpoints], { timeoutMs: 45_000 });
    expect(result.code).toBe(1);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^kvsync render: KeyVaultSync shop\/shop: VaultUnreachable: .*vault "devkv".*cannot reach the vault \(ECONNREFUSED\)/);
    expect(lines[0]).toContain(`is the emulator of ${endpoints} running?`);
    expect(lines[0]).not.toMatch(/probe|circuit|sends no request/);
  });
});
