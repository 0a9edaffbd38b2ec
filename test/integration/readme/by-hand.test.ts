/**
 * The README's by-hand sections, executed as written: their ```sh blocks, in order, in one bash
 * shell in the checkout (as a reader pastes them), then each output block the README shows after a
 * command block is checked against what that block printed. The shell starts without node_modules/.bin
 * on PATH (a new user's shell, whose `node` may be too old): the README's own first line provides
 * `kvsync` and Node 24. The README starts its own control plane (`kvsync dev control-plane`), emulator
 * and controller; the run's shared control plane is not used.
 *
 * Two substitutions keep parallel runs apart: `/tmp/` becomes a fresh folder, and the fixed ports
 * 9443 (webhook) and 9808 (sidecar readiness) become free ones.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../src/util/poll.ts';
import { repoRoot, runProgram, stopProcess } from '../../support/installed-command.ts';

/** The by-hand sections, in README order. */
const SECTIONS = ['Sync a certificate and a secret by hand', 'Secrets in pods', 'Certificates'];
const MARKER = '<<<kvsync-readme-block';

interface Block {
  section: string;
  /** The commands, as in the README. */
  script: string;
  /** The output block the README shows right after the commands, if any. */
  expected: string | undefined;
}

/** The ```sh blocks of the named `## ` sections, each with the plain ``` block that follows it. */
function readmeBlocks(markdown: string, sections: readonly string[]): Block[] {
  const blocks: Block[] = [];
  let section = '';
  let fence: { info: string; lines: string[] } | undefined;
  for (const line of markdown.split('\n')) {
    if (fence !== undefined) {
      if (line.startsWith('```')) {
        const text = fence.lines.join('\n');
        const last = blocks.at(-1);
        if (fence.info === 'sh') blocks.push({ section, script: text, expected: undefined });
        else if (fence.info === '' && last !== undefined && last.section === section && last.expected === undefined) last.expected = text;
        fence = undefined;
      } else {
        fence.lines.push(line);
      }
      continue;
    }
    if (line.startsWith('## ')) section = line.slice(3).trim();
    else if (line.startsWith('```') && sections.includes(section)) fence = { info: line.slice(3).trim(), lines: [] };
  }
  return blocks;
}

/**
 * A line of shown output with what varies between runs (ages, dates, sizes, link counts, owners, the
 * atomic writer's timestamped folder) replaced, whitespace collapsed.
 */
function normalize(line: string): string {
  return line
    .replace(/^([dl-][rwxsStT-]{9})\s+\d+\s+\S+\s+\S+\s+\d+\s+\w{3}\s+\d+\s+\d\d:\d\d\s/, '$1 <links> <owner> <group> <size> <date> ')
    .replace(/\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d+/g, '..<timestamp>')
    .replace(/(^|\s)(\d+[smhd])+(?=\s|$)/g, '$1<age>')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Lines of an output block that a run reproduces (not `total N`, not the listing's parent folder). */
function checkedLines(expected: string): string[] {
  return expected
    .split('\n')
    .map(normalize)
    .filter((l) => l !== '' && !/^total \d+$/.test(l) && !/ \.\.$/.test(l));
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? done(address.port) : fail(new Error('no port'))));
    });
  });
}

describe('README by-hand sections, run as written', () => {
  const work = mkdtempSync(join(tmpdir(), 'kvsync-readme-'));
  let shell: ChildProcess | undefined;

  afterAll(async () => {
    // Whatever the README's last `kill $(jobs -p)` left (or everything, after a failure).
    if (shell?.pid !== undefined) await stopProcess(-shell.pid);
    rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('extracts the sections\' command blocks and the outputs they show', () => {
    const blocks = readmeBlocks(readFileSync(join(repoRoot, 'README.md'), 'utf8'), SECTIONS);
    expect(blocks.map((b) => b.section)).toEqual(expect.arrayContaining(SECTIONS));
    expect(blocks.filter((b) => b.expected !== undefined).length).toBeGreaterThanOrEqual(5);
    expect(blocks[0]?.script.split('\n')[0]).toMatch(/^export PATH="\$PWD\/node_modules\/\.bin:\$PATH"/);
  });

  it('every command block runs and prints what the README shows', async () => {
    const blocks = readmeBlocks(readFileSync(join(repoRoot, 'README.md'), 'utf8'), SECTIONS);
    const [webhookPort, readyPort] = [await freePort(), await freePort()];
    const adapt = (text: string): string => text.replaceAll('/tmp/', `${work}/`).replaceAll('9443', String(webhookPort)).replaceAll('9808', String(readyPort));
    const script = blocks.map((b, i) => `echo '${MARKER} ${i}>>>'\n${adapt(b.script)}`).join('\n') + `\necho '${MARKER} end>>>'\n`;

    // `npm ci` links `kvsync` into node_modules/.bin (the prepare script); a checkout installed
    // before that script existed lacks the link, so make it as npm would.
    const link = await runProgram(process.execPath, [join(repoRoot, 'scripts', 'link-bin.js')], { env: process.env, cwd: repoRoot });
    expect(link.code, link.stderr).toBe(0);

    // A new user's shell: no node_modules/.bin on PATH until the README's first line.
    const path = (process.env.PATH ?? '').split(delimiter).filter((p) => !p.includes('node_modules')).join(delimiter);
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: path, NODE_OPTIONS: undefined };
    for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key];

    let output = '';
    shell = spawn('bash', ['-c', script], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    shell.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    shell.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const exited = new Promise<number | null>((done) => shell?.on('exit', (code) => done(code)));

    // Generous: the control plane, a sync, the webhook, the sidecar and a rotation on a busy machine.
    await pollUntil(() => (output.includes(`${MARKER} end>>>`) ? true : undefined), { timeoutMs: 540_000, intervalMs: 500, description: 'the README blocks to finish' }).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; the output:\n${output.slice(-6000)}`);
    });
    await exited;

    const outputs = output.split(new RegExp(`${MARKER} (?:\\d+|end)>>>\\n`)).slice(1);
    blocks.forEach((block, i) => {
      if (block.expected === undefined) return;
      const printed = (outputs[i] ?? '').split('\n').map(normalize);
      for (const line of checkedLines(block.expected)) {
        expect(printed, `${block.section}, block ${i + 1}: the README shows "${line}"; the block printed:\n${outputs[i] ?? ''}`).toContain(line);
      }
    });
  }, 600_000);
});
