/**
 * Vault secrets that rotate together, one generation at a time: generation n of object `o` holds a
 * value that names o and n (padded, so a cut-off value is never another generation's), and the
 * version id Key Vault gave it. The render checker asks {@link VaultGenerations.generationOf} which
 * generation a value in a Secret is.
 */
import { randomBytes } from 'node:crypto';
import type { SecretClient } from '@azure/keyvault-secrets';

export class VaultGenerations {
  readonly objects: readonly string[];
  readonly #client: SecretClient;
  /** Per object, per generation: value and version id. */
  readonly #held = new Map<string, { value: string; version: string }[]>();

  constructor(client: SecretClient, objects: readonly string[]) {
    this.#client = client;
    this.objects = objects;
    for (const o of objects) this.#held.set(o, []);
  }

  /** The newest generation written (-1 before the first). */
  get current(): number {
    return (this.#held.get(this.objects[0] ?? '')?.length ?? 0) - 1;
  }

  /** Writes the next generation of every object (one after the other) and returns its number. */
  async rotate(): Promise<number> {
    const g = this.current + 1;
    for (const o of this.objects) {
      const value = `${o}-generation-${g}-${randomBytes(12).toString('hex')}`;
      const set = await this.#client.setSecret(o, value);
      this.#held.get(o)?.push({ value, version: set.properties.version ?? '' });
    }
    return g;
  }

  generationOf(object: string, value: string): number | undefined {
    const i = this.#held.get(object)?.findIndex((h) => h.value === value) ?? -1;
    return i < 0 ? undefined : i;
  }

  value(object: string, generation = this.current): string {
    const v = this.#held.get(object)?.[generation]?.value;
    if (v === undefined) throw new Error(`no generation ${generation} of ${object}`);
    return v;
  }

  version(object: string, generation = this.current): string {
    const v = this.#held.get(object)?.[generation]?.version;
    if (v === undefined) throw new Error(`no generation ${generation} of ${object}`);
    return v;
  }
}
