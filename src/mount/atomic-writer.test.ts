import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AtomicWriterError, validatePayloadPath, writeAtomically } from './atomic-writer.ts';
import type { Payload } from './atomic-writer.ts';
import { FILE_BYTES, generationPayload } from './testing/rewrite-loop.ts';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvsync-atomic-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const root = (): boolean => process.getuid?.() === 0;
const file = (text: string, mode = 0o644): { data: Buffer; mode: number } => ({ data: Buffer.from(text), mode });
const timestamped = (): string[] => readdirSync(dir).filter((n) => /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d{9}$/.test(n));

describe('writeAtomically', () => {
  it('writes the kubelet layout: a timestamped directory, ..data, per-file symlinks, modes', async () => {
    const r = await writeAtomically(dir, { password: file('hunter2', 0o600), 'tls.pem': file('PEM'), 'hist/0': file('v0', 0o640) });
    expect(r.changed).toBe(true);
    expect(timestamped()).toEqual([r.dataDir]);
    expect(readlinkSync(join(dir, '..data'))).toBe(r.dataDir);
    expect(existsSync(join(dir, '..data_tmp'))).toBe(false);
    expect(readlinkSync(join(dir, 'password'))).toBe('..data/password');
    expect(readlinkSync(join(dir, 'hist'))).toBe('..data/hist');
    expect(readFileSync(join(dir, 'password'), 'utf8')).toBe('hunter2');
    expect(readFileSync(join(dir, 'hist', '0'), 'utf8')).toBe('v0');
    expect(statSync(join(dir, 'password')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'tls.pem')).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, 'hist', '0')).mode & 0o777).toBe(0o640);
    expect(statSync(join(dir, r.dataDir)).mode & 0o777).toBe(0o755);
    expect(readdirSync(dir).sort()).toEqual(['..data', r.dataDir, 'hist', 'password', 'tls.pem'].sort());
  });

  it('does nothing when the payload is unchanged, and rewrites when a byte or a mode changes', async () => {
    const payload: Payload = { a: file('1'), b: file('2') };
    const first = await writeAtomically(dir, payload);
    const again = await writeAtomically(dir, { a: file('1'), b: file('2') });
    expect(again).toEqual({ changed: false, dataDir: first.dataDir });
    expect(timestamped()).toEqual([first.dataDir]);
    const modeOnly = await writeAtomically(dir, { a: file('1'), b: file('2', 0o600) });
    expect(modeOnly.changed).toBe(true);
    const content = await writeAtomically(dir, { a: file('1'), b: file('3', 0o600) });
    expect(content.changed).toBe(true);
    expect(timestamped()).toEqual([content.dataDir]);
    expect(readFileSync(join(dir, 'b'), 'utf8')).toBe('3');
  });

  it('removes the symlinks of names that left the payload and the old directory', async () => {
    const first = await writeAtomically(dir, { keep: file('k'), gone: file('g'), 'olddir/x': file('x') });
    const second = await writeAtomically(dir, { keep: file('k2'), added: file('n') });
    expect(existsSync(join(dir, first.dataDir))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['..data', second.dataDir, 'added', 'keep'].sort());
    expect(readFileSync(join(dir, 'added'), 'utf8')).toBe('n');
    expect(readFileSync(join(dir, 'keep'), 'utf8')).toBe('k2');
  });

  it('recovers when the directory behind ..data vanished, and removes directories left by a crashed write', async () => {
    const first = await writeAtomically(dir, { a: file('1'), gone: file('g') });
    rmSync(join(dir, first.dataDir), { recursive: true });
    mkdirSync(join(dir, '..2020_01_01_00_00_00.000000001'));
    const second = await writeAtomically(dir, { a: file('1') });
    expect(second.changed).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['..data', second.dataDir, 'a'].sort());
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('1');
  });

  it('refuses bad paths and writes nothing', async () => {
    for (const bad of ['', '/etc/passwd', '../x', 'a/../../x', '..data', '..hidden/x', 'a//b', './a', 'a/.', 'x'.repeat(256)]) {
      expect(() => validatePayloadPath(bad), bad).toThrow(AtomicWriterError);
      await expect(writeAtomically(dir, { [bad]: file('x') })).rejects.toMatchObject({ reason: 'InvalidPath' });
    }
    await expect(writeAtomically(dir, { a: file('x'), 'a/b': file('y') })).rejects.toMatchObject({ reason: 'InvalidPath' });
    expect(readdirSync(dir)).toEqual([]);
    expect(() => validatePayloadPath('a..b/c..d')).not.toThrow();
  });

  it('refuses to shadow a file it did not make, keeping the previous payload', async () => {
    await writeAtomically(dir, { a: file('1') });
    writeFileSync(join(dir, 'mine'), 'user file');
    await expect(writeAtomically(dir, { a: file('2'), mine: file('x') })).rejects.toMatchObject({ reason: 'PathConflict' });
    expect(readFileSync(join(dir, 'mine'), 'utf8')).toBe('user file');
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('1');
    expect(timestamped()).toHaveLength(1);
  });

  it('reports an I/O failure as WriteFailed and leaves ..data in place', async () => {
    await writeAtomically(dir, { a: file('1') });
    // ..data_tmp as a non-empty directory: rm(force) without recursive cannot remove it.
    mkdirSync(join(dir, '..data_tmp', 'x'), { recursive: true });
    await expect(writeAtomically(dir, { a: file('2') })).rejects.toMatchObject({ reason: 'WriteFailed' });
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('1');
    expect(timestamped()).toHaveLength(1);
  });

  it('applies uid and gid (the pod user and fsGroup) only as root; any other writer keeps its own and the directory\'s', async () => {
    await writeAtomically(dir, { 'x/y': file('s', 0o640), z: file('t', 0o440) }, { uid: 1234, gid: 5678 });
    // Only root may give a file away; for anyone else the documented rule is: ignored, nothing fails.
    const expected = root() ? { uid: 1234, gid: 5678 } : { uid: process.getuid?.(), gid: statSync(dir).gid };
    for (const p of ['x/y', 'z', 'x']) {
      const s = statSync(join(dir, p));
      expect({ p, uid: s.uid, gid: s.gid }).toEqual({ p, ...expected });
    }
    expect(statSync(join(dir, 'z')).mode & 0o777).toBe(0o440);
    expect(statSync(join(dir, 'x', 'y')).mode & 0o777).toBe(0o640);
  });

  it('without uid and gid, as any user, the files take the group of a set-group-ID volume (how kubelet applies fsGroup)', async () => {
    // kubelet makes the volume's group the fsGroup and sets the set-group-ID bit, so that everything
    // created in it joins that group: the recommended setup, a sidecar that is not root.
    // A group other than the writer's own where possible: root may pick any, another user one it is in.
    const group = root() ? 5678 : (process.getgroups?.().find((g) => g !== process.getgid?.()) ?? statSync(dir).gid);
    chownSync(dir, -1, group);
    chmodSync(dir, 0o2775);
    await writeAtomically(dir, { 'x/y': file('s', 0o640), z: file('t', 0o440) });
    const data = readlinkSync(join(dir, '..data'));
    for (const p of [data, `${data}/x`, `${data}/x/y`, `${data}/z`]) {
      const s = statSync(join(dir, p));
      expect({ p, uid: s.uid, gid: s.gid }).toEqual({ p, uid: process.getuid?.(), gid: group });
    }
    // The modes stay as the payload says (the set-group-ID bit is the directories' own).
    expect(statSync(join(dir, 'z')).mode & 0o7777).toBe(0o440);
    expect(statSync(join(dir, 'x', 'y')).mode & 0o7777).toBe(0o640);
  });

  it('a concurrent reader never sees a partial or mixed set during 100 rewrites', async () => {
    await writeAtomically(dir, generationPayload(0));
    const child = spawn(process.execPath, [join(import.meta.dirname, 'testing', 'rewrite-loop.ts'), dir, '100'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    let exited = false;
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => ((exited = true), resolve(code))));

    const parse = (buf: Buffer, name: string): number => {
      const m = /^gen=(\d+);file=([^;]+);/.exec(buf.subarray(0, 64).toString());
      if (buf.length !== FILE_BYTES || m === null || m[2] !== name || buf[buf.length - 1] !== 0x0a) throw new Error(`partial ${name}: ${buf.length} bytes`);
      return Number(m[1]);
    };
    const retryable = (err: unknown): boolean => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');
    const seen = new Set<number>();
    let snapshots = 0;
    let singleReads = 0;
    let retries = 0;
    const failures: string[] = [];
    while (!exited) {
      for (let i = 0; i < 20; i++) {
        // A consistent snapshot: resolve ..data once, read every file from there.
        try {
          const snap = realpathSync(join(dir, '..data'));
          // The listing throws ENOENT when the writer already removed this directory (then: retry).
          const hasC = readdirSync(snap).includes('c.txt');
          const names = hasC ? ['a.txt', 'nested/b.txt', 'c.txt'] : ['a.txt', 'nested/b.txt'];
          const gens = names.map((n) => parse(readFileSync(join(snap, n)), n));
          const gen = gens[0] ?? -1;
          if (gens.some((g) => g !== gen)) failures.push(`mixed generations ${gens.join(',')}`);
          if (hasC !== (gen % 2 === 1)) failures.push(`generation ${gen} with c.txt=${hasC}`);
          const mode = statSync(join(snap, 'a.txt')).mode & 0o777;
          if (mode !== (gen % 2 === 0 ? 0o644 : 0o600)) failures.push(`generation ${gen} with mode ${mode.toString(8)}`);
          seen.add(gen);
          snapshots++;
        } catch (err) {
          if (retryable(err)) retries++;
          else failures.push((err as Error).message);
        }
        // Each single file through its user-visible symlink is always complete.
        try {
          parse(readFileSync(join(dir, 'a.txt')), 'a.txt');
          singleReads++;
        } catch (err) {
          if (retryable(err)) retries++;
          else failures.push((err as Error).message);
        }
      }
      await yieldToLoop();
    }
    expect(await exit, out).toBe(0);
    expect(out).toContain('done 100');
    expect(failures.slice(0, 5)).toEqual([]);
    expect(snapshots).toBeGreaterThan(100);
    expect(singleReads).toBeGreaterThan(100);
    // The reader saw the rotations happen, not one frozen state.
    expect(seen.size).toBeGreaterThan(5);
    expect(retries).toBeLessThan(snapshots);
    // After the last write: generation 100, two files, no leftovers.
    expect(parse(readFileSync(join(dir, 'a.txt')), 'a.txt')).toBe(100);
    expect(lstatSync(join(dir, 'c.txt'), { throwIfNoEntry: false })).toBeUndefined();
    expect(timestamped()).toHaveLength(1);
    // A stale symlink the writer did not make is still a conflict only for names it would write.
    symlinkSync('elsewhere', join(dir, 'unrelated'));
    await expect(writeAtomically(dir, generationPayload(101))).resolves.toMatchObject({ changed: true });
  });
});
