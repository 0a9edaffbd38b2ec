/**
 * Request counters behind `GET <adminUrl>/requests`: one count per (vault, operation, status).
 * Operations are named after the SDK methods (`getSecret`, `listSecrets`, …, `token`, `imdsToken`).
 */
import type { RequestCounter } from '../identity/contract.ts';

export interface RequestCount {
  vault: string;
  operation: string;
  status: number;
  count: number;
}

export class RequestCounters implements RequestCounter {
  readonly #counts = new Map<string, RequestCount>();

  count(vault: string, operation: string, status: number): void {
    const key = `${vault}\u0000${operation}\u0000${status}`;
    const entry = this.#counts.get(key);
    if (entry === undefined) this.#counts.set(key, { vault, operation, status, count: 1 });
    else entry.count += 1;
  }

  list(): RequestCount[] {
    return [...this.#counts.values()].map((c) => ({ ...c })).sort((a, b) => a.vault.localeCompare(b.vault) || a.operation.localeCompare(b.operation) || a.status - b.status);
  }

  reset(): void {
    this.#counts.clear();
  }
}
