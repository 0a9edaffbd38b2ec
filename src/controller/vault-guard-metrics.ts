/**
 * Metrics of the per-vault request guard (src/keyvault/vault-guard.ts) in a controller's registry:
 * waits for the vault's request budget or a Retry-After pause, and each vault's circuit state.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { CIRCUIT_STATE_VALUE } from '../keyvault/circuit-breaker.ts';
import type { VaultGuards } from '../keyvault/vault-guard.ts';

export const VAULT_GUARD_METRIC_NAMES = {
  throttledWaits: 'kvsync_keyvault_throttled_waits_total',
  throttledWaitSeconds: 'kvsync_keyvault_throttled_wait_seconds',
  circuitState: 'kvsync_keyvault_circuit_state',
} as const;

/** Registers the guard metrics in `registry`; returns the function that stops feeding them. */
export function registerVaultGuardMetrics(registry: Registry, guards: VaultGuards): () => void {
  const waits = new Counter({
    name: VAULT_GUARD_METRIC_NAMES.throttledWaits,
    help: "Key Vault requests that waited before being sent: for the vault's request budget (client-side limiter) or a Retry-After pause, by vault.",
    labelNames: ['vault'],
    registers: [registry],
  });
  const waitSeconds = new Histogram({
    name: VAULT_GUARD_METRIC_NAMES.throttledWaitSeconds,
    help: "Time a Key Vault request waited for the vault's request budget or a Retry-After pause, in seconds.",
    labelNames: ['vault'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [registry],
  });
  new Gauge({
    name: VAULT_GUARD_METRIC_NAMES.circuitState,
    help: 'Circuit breaker state per vault: 0 closed, 1 half-open (one probe allowed), 2 open (requests fail fast).',
    labelNames: ['vault'],
    registers: [registry],
    collect() {
      for (const { vault, state } of guards.circuitStates()) this.set({ vault }, CIRCUIT_STATE_VALUE[state]);
    },
  });
  return guards.observe((e) => {
    if (e.kind !== 'waited') return;
    waits.inc({ vault: e.vault });
    waitSeconds.observe({ vault: e.vault }, e.seconds);
  });
}
