/**
 * kubelet's atomic writer (pkg/volume/util/atomic_writer.go), for the `kvsync mount` sidecar.
 *
 * Layout of the target directory after a write:
 *
 * ```
 * <dir>/..2026_11_24_20_00_00.123456789/   the payload, written whole and fsynced
 * <dir>/..data -> ..2026_11_24_20_00_00.123456789
 * <dir>/<name> -> ..data/<name>            one symlink per top-level name of the payload
 * ```
 *
 * A write: validate every path → compare with what `..data` holds (nothing changed: no write at all) →
 * write a new timestamped directory (per-file mode, owner) and fsync it → point `..data_tmp` at it and
 * rename `..data_tmp` over `..data` (one rename(2): the atomic switch) → create the per-file symlinks of
 * new top-level names → remove the symlinks of names that left → remove the old timestamped directory
 * (and any a writer that died before its switch left behind).
 *
 * A reader that resolves `..data` once (realpath) and reads every file from that directory sees one
 * complete payload, never a mix; a reader that opens `<dir>/<name>` gets a complete file. The old
 * directory is removed after the switch, so such a reader may get ENOENT and must retry (as with kubelet).
 *
 * Files other than the writer's own (`..*` entries it made, and the per-file symlinks) are left alone,
 * except that a user-visible name of the payload must not already exist as something else.
 */
import { randomInt } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chown, lstat, mkdir, open, readdir, readFile, readlink, rename, rm, stat, symlink, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { KvsyncError } from '../util/errors.ts';

/** One file of a payload. */
export interface PayloadFile {
  data: Buffer;
  /** File mode (permission bits only), e.g. 0o644. */
  mode: number;
}

/** Relative path (`/`-separated) → file. */
export type Payload = Record<string, PayloadFile>;

export interface WriteOptions {
  /** Owner of the files and directories; applied only when running as root. */
  uid?: number;
  /** Group of the files and directories (the pod's fsGroup); applied only when running as root. */
  gid?: number;
}

export interface WriteResult {
  /** False when the payload equalled what `..data` held and nothing was written. */
  changed: boolean;
  /** The timestamped directory `..data` points at after the call (basename). */
  dataDir: string;
}

export type AtomicWriterErrorReason = 'InvalidPath' | 'PathConflict' | 'WriteFailed';

/** A failed or refused write. Messages name paths, never file contents. */
export class AtomicWriterError extends KvsyncError<AtomicWriterErrorReason> {
  override readonly name = 'AtomicWriterError';
}

export const DATA_DIR_LINK = '..data';
const DATA_DIR_TMP_LINK = '..data_tmp';
/** The writer's timestamped directories (see timestampedName). */
const TIMESTAMPED_DIR = /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d{9}$/;
const MAX_PATH_LENGTH = 4096;
const MAX_SEGMENT_LENGTH = 255;

/**
 * Checks a payload path the way kubelet's validatePath does.
 * @throws AtomicWriterError InvalidPath for an empty, absolute, over-long path, a `..` element, or a
 *   path whose first element starts with `..` (reserved for the writer's own entries).
 */
export function validatePayloadPath(path: string): void {
  const bad = (why: string): never => {
    throw new AtomicWriterError('InvalidPath', `payload path "${path.slice(0, 256)}" ${why}`);
  };
  if (path === '') bad('is empty');
  if (path.length > MAX_PATH_LENGTH) bad(`is longer than ${MAX_PATH_LENGTH} characters`);
  if (isAbsolute(path) || path.startsWith('/')) bad('is absolute');
  if (path.includes('\0')) bad('contains a NUL byte');
  const segments = path.split('/');
  if (segments.some((s) => s.length > MAX_SEGMENT_LENGTH)) bad(`has an element longer than ${MAX_SEGMENT_LENGTH} characters`);
  if (segments.includes('..')) bad("contains '..'");
  if (segments.some((s) => s === '' || s === '.')) bad("has an empty or '.' element");
  if (segments[0]?.startsWith('..') === true) bad("starts with '..'");
}

function topLevelName(path: string): string {
  return path.split('/')[0] ?? path;
}

/** kubelet's name: `..` + UTC time `2006_01_02_15_04_05` + `.` + random digits. */
function timestampedName(now: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const t = `${now.getUTCFullYear()}_${p(now.getUTCMonth() + 1)}_${p(now.getUTCDate())}_${p(now.getUTCHours())}_${p(now.getUTCMinutes())}_${p(now.getUTCSeconds())}`;
  return `..${t}.${p(randomInt(0, 1_000_000_000), 9)}`;
}

async function fsyncPath(path: string, flags = fsConstants.O_RDONLY): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The basename `..data` points at, undefined when there is no `..data` yet. */
async function currentDataDir(dir: string): Promise<string | undefined> {
  try {
    return await readlink(join(dir, DATA_DIR_LINK));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * The live payload's top-level names (files and directories of the directory `..data` points at), or
 * undefined when `dir` holds no payload yet (no `..data`, or its directory gone).
 */
export async function livePayloadNames(dir: string): Promise<{ dataDir: string; names: Set<string> } | undefined> {
  const dataDir = await currentDataDir(dir).catch(() => undefined);
  if (dataDir === undefined) return undefined;
  try {
    return { dataDir, names: new Set(await readdir(join(dir, dataDir))) };
  } catch {
    return undefined;
  }
}

/** Top-level names in `dir` that are the writer's symlinks `<name> -> ..data/<name>`. */
async function userVisibleLinks(dir: string): Promise<Set<string>> {
  const names = new Set<string>();
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isSymbolicLink() && !entry.name.startsWith('..') && (await readlink(join(dir, entry.name))) === posix.join(DATA_DIR_LINK, entry.name)) names.add(entry.name);
  }
  return names;
}

/** Every regular file under `root`, relative (`/`-separated) → {bytes, mode}. */
async function readTree(root: string): Promise<Map<string, PayloadFile>> {
  const out = new Map<string, PayloadFile>();
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(join(root, rel), { withFileTypes: true })) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) {
        const full = join(root, child);
        out.set(child, { data: await readFile(full), mode: (await stat(full)).mode & 0o7777 });
      }
    }
  };
  await walk('');
  return out;
}

function sameContents(current: Map<string, PayloadFile>, payload: Payload): boolean {
  const entries = Object.entries(payload);
  if (entries.length !== current.size) return false;
  return entries.every(([path, file]) => {
    const have = current.get(path);
    return have !== undefined && have.mode === (file.mode & 0o7777) && have.data.equals(file.data);
  });
}

function asRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

async function applyOwner(path: string, opts: WriteOptions): Promise<void> {
  if ((opts.uid === undefined && opts.gid === undefined) || !asRoot()) return;
  await chown(path, opts.uid ?? -1, opts.gid ?? -1);
}

/** Writes `payload` into a new directory `dir/name` (files and parents, modes, owners), fsynced. */
async function writePayloadDir(dir: string, name: string, payload: Payload, opts: WriteOptions): Promise<void> {
  const root = join(dir, name);
  await mkdir(root, { mode: 0o755 });
  const made = new Set<string>([root]);
  for (const [path, file] of Object.entries(payload)) {
    const full = join(root, ...path.split('/'));
    // Parent directories inside the payload (versioned objects, nested aliases).
    const parents: string[] = [];
    for (let d = dirname(full); d !== root && !made.has(d); d = dirname(d)) parents.unshift(d);
    for (const d of parents) {
      await mkdir(d, { mode: 0o755 });
      await applyOwner(d, opts);
      made.add(d);
    }
    const fh = await open(full, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    try {
      await fh.writeFile(file.data);
      // chmod after creation: the process umask must not narrow the mode the spec asks for.
      await fh.chmod(file.mode & 0o7777);
      if ((opts.uid !== undefined || opts.gid !== undefined) && asRoot()) await fh.chown(opts.uid ?? -1, opts.gid ?? -1);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
  await applyOwner(root, opts);
  for (const d of [...made].reverse()) await fsyncPath(d);
}

/**
 * Writes `payload` into `dir` atomically (see the module comment). `dir` is created when missing.
 * @returns changed=false when the payload equals what `..data` holds (nothing is touched).
 * @throws AtomicWriterError InvalidPath (a bad payload path), PathConflict (a payload name exists in
 *   `dir` as something other than the writer's symlink), WriteFailed (any I/O error; the previous
 *   `..data` is then still in place and the half-written directory is removed).
 */
export async function writeAtomically(dir: string, payload: Payload, opts: WriteOptions = {}): Promise<WriteResult> {
  for (const path of Object.keys(payload)) validatePayloadPath(path);
  const paths = Object.keys(payload);
  // A file "a" and a file "a/b" cannot both exist.
  for (const p of paths) {
    for (let d = posix.dirname(p); d !== '.'; d = posix.dirname(d)) {
      if (payload[d] !== undefined) throw new AtomicWriterError('InvalidPath', `payload path "${p}" lies under the file "${d}"`);
    }
  }

  let newDir: string | undefined;
  try {
    await mkdir(dir, { recursive: true });
    const oldDir = await currentDataDir(dir);
    if (oldDir !== undefined) {
      // A `..data` whose directory vanished (removed by hand) is rewritten, not an error.
      const current = await readTree(join(dir, oldDir)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
        throw err;
      });
      if (current !== undefined && sameContents(current, payload)) return { changed: false, dataDir: oldDir };
    }
    // The writer's own per-file links (`<name> -> ..data/<name>`) name the previous payload's top level.
    const oldNames = await userVisibleLinks(dir);
    const newNames = new Set(paths.map(topLevelName));

    // A new name must not clash with something the writer did not make.
    for (const name of newNames) {
      if (oldNames.has(name)) continue;
      const existing = await lstat(join(dir, name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (existing === undefined) continue;
      const target = existing.isSymbolicLink() ? await readlink(join(dir, name)) : undefined;
      if (target !== posix.join(DATA_DIR_LINK, name)) throw new AtomicWriterError('PathConflict', `"${name}" already exists in ${dir} and was not made by the writer`);
    }

    newDir = timestampedName(new Date());
    await writePayloadDir(dir, newDir, payload, opts);

    // The atomic switch: ..data_tmp -> newDir, renamed over ..data.
    const tmpLink = join(dir, DATA_DIR_TMP_LINK);
    await rm(tmpLink, { force: true });
    await symlink(newDir, tmpLink);
    await rename(tmpLink, join(dir, DATA_DIR_LINK));
    await fsyncPath(dir);
    const written = newDir;
    newDir = undefined; // from here on, the new directory is the live one

    for (const name of newNames) {
      const link = join(dir, name);
      try {
        await symlink(posix.join(DATA_DIR_LINK, name), link);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    for (const name of oldNames) {
      if (!newNames.has(name)) await unlink(join(dir, name)).catch(() => undefined);
    }
    // The previous directory, and any left by a writer that died before its switch.
    for (const entry of await readdir(dir)) {
      if (entry !== written && TIMESTAMPED_DIR.test(entry)) await rm(join(dir, entry), { recursive: true, force: true });
    }
    await fsyncPath(dir);
    return { changed: true, dataDir: written };
  } catch (err) {
    if (newDir !== undefined) await rm(join(dir, newDir), { recursive: true, force: true }).catch(() => undefined);
    if (err instanceof AtomicWriterError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : 'error');
    throw new AtomicWriterError('WriteFailed', `atomic write into ${dir} failed: ${code}`, { cause: err });
  }
}
