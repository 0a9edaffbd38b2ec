/**
 * `--data FILE`: the vaults' state as one JSON file (mode 0600: it holds secret values and private
 * keys), written atomically (temp file + rename) shortly after each change and on stop, and read back
 * at start. Persisted objects win over the config's seeds.
 */
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import type { VaultState } from './keyvault/model.ts';
import { KvsyncError } from '../util/errors.ts';

export class DataFileError extends KvsyncError<'InvalidDataFile'> {
  override readonly name = 'DataFileError';
  constructor(message: string) {
    super('InvalidDataFile', message);
  }
}

interface DataFile {
  format: 'kvsync-emulator/v1';
  vaults: Record<string, VaultState>;
}

export async function loadDataFile(file: string): Promise<Record<string, VaultState>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new DataFileError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new DataFileError(`${file} is not valid JSON`);
  }
  const d = doc as Partial<DataFile>;
  if (d.format !== 'kvsync-emulator/v1' || typeof d.vaults !== 'object' || d.vaults === null) throw new DataFileError(`${file} is not a kvsync emulator data file`);
  return d.vaults;
}

/** Debounced writer of the data file. */
export class DataFileWriter {
  readonly #file: string;
  readonly #snapshot: () => Record<string, VaultState>;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(file: string, snapshot: () => Record<string, VaultState>) {
    this.#file = file;
    this.#snapshot = snapshot;
  }

  /** Schedules a write ~100 ms from now (coalescing bursts of changes). */
  schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, 100);
  }

  /** Writes now (after any write in progress). */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const data: DataFile = { format: 'kvsync-emulator/v1', vaults: this.#snapshot() };
    const text = JSON.stringify(data);
    this.#writing = this.#writing.then(async () => {
      const tmp = `${this.#file}.tmp-${process.pid}`;
      await writeFile(tmp, text, { mode: 0o600 });
      await chmod(tmp, 0o600);
      await rename(tmp, this.#file);
    });
    await this.#writing;
  }
}
