/**
 * `kvsync` as an installed command: npm links bin/kvsync.js under the name `kvsync`, so the CLI must run
 * whatever path it was started through. And on a Node too old for the project, one line says what to do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installKvsync, type InstalledKvsync } from '../../support/installed-command.ts';

let kvsync: InstalledKvsync;

beforeAll(async () => {
  kvsync = await installKvsync();
}, 150_000);

afterAll(() => kvsync?.remove());

describe('kvsync installed with npm install -g', () => {
  it('`kvsync --help` prints the usage and exits 0', async () => {
    const result = await kvsync.run(['--help']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^usage: kvsync <command>/);
    for (const command of ['controller', 'convert', 'dev', 'emulator', 'mount', 'render']) expect(result.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it('`kvsync render -f /nonexistent` fails with one line naming the file', async () => {
    const result = await kvsync.run(['render', '-f', '/nonexistent/shop.yaml']);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('/nonexistent/shop.yaml');
    expect(lines[0]).toMatch(/^kvsync render: /);
  });

  it('on a Node older than 22.19 it prints one line with the fix, no stack trace, and exits 1', async () => {
    // Node 20 as the first `node` on PATH stands in through a preload that reports an old version:
    // the check must come before anything a Node 20 cannot load.
    // (NODE_OPTIONS drops double quotes, hence the single ones.)
    const oldNode = "data:text/javascript,Object.defineProperty(process.versions,'node',{value:'20.20.2'});Object.defineProperty(process,'version',{value:'v20.20.2'})";
    const result = await kvsync.run(['--help'], { env: { NODE_OPTIONS: `--import=${oldNode}` } });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^kvsync needs Node >= 22\.19, found v20\.20\.2 /);
    expect(lines[0]).toContain('export PATH="$PWD/node_modules/.bin:$PATH"');
  });
});
