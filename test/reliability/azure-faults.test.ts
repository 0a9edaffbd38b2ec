/**
 * The fault matrix's Azure rows, on a control plane of their own and the Key Vault emulator, one
 * KeyVaultSync (refreshInterval 10 s) per row on a vault of its own. A row syncs version 1, injects its
 * fault (through the emulator's admin API), rotates the object, and checks:
 * - what the user is shown: the Synced condition's reason (or a Warning event of that reason), Ready
 *   (True only for Throttled: the Secrets are in place), `kvsync_syncs_total` of that reason, and none
 *   of Azure's own text anywhere;
 * - that a watch saw the Secret hold only version 1, then version 2, whole (never a mix, a half-written
 *   value, or a step back);
 * - the convergence time once the fault ends (printed; bounded generously, and for the rows whose
 *   recovery kvsync paces itself, by the refresh interval: a user expects it within about one).
 * Access tokens live 10 s (PUT /admin/token-lifetime) for every row but the throttling ones, so the
 * rows also run across token renewals, and the outages outlast a token.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../src/util/poll.ts';
import { admin, requestCounts } from '../integration/emulator/kv-support.ts';
import { SecretHistory } from './support/secret-history.ts';
import { conditionOf, readyCondition, syncApi } from '../integration/controller/support.ts';
import { FORCE_SYNC_ANNOTATION } from '../../src/controller/labels.ts';
import {
  AZURE_TEXT,
  READ_OPERATIONS,
  clearFaults,
  deleteSync,
  getSync,
  injectFault,
  lastSyncSeconds,
  reportConvergence,
  startFaultWorld,
  syncsWithResult,
  userVisibleText,
  waitForData,
  waitShown,
  type FaultWorld,
  type Shown,
} from './azure-support.ts';

/** Token lifetime of the file: outages of 35 s outlast three tokens. */
const TOKEN_SECONDS = 10;
/** The long outage: 3.5 refresh intervals and 3.5 token lifetimes (a stand-in for ten minutes). */
const LONG_OUTAGE_MS = 35_000;
/** Generous bound on convergence: two refresh intervals plus the longest retry backoff. */
const CONVERGENCE_BOUND_MS = 150_000;
/** Every KeyVaultSync of the file refreshes this often. */
const REFRESH_INTERVAL_MS = 10_000;
/**
 * Recovery once Entra ID, IMDS or a throttling vault is back: a failed sync is retried within one
 * refresh interval, and its run (a token, the reads, the write) fits in another on this busy machine;
 * the slack covers a retry that had just begun as the fault ended.
 */
const RECOVERY_BOUND_MS = 2 * REFRESH_INTERVAL_MS + 10_000;
/**
 * Pauses the dependency's own client keeps after the fault, on top of {@link RECOVERY_BOUND_MS}: MSAL
 * refuses a token request for 60 s after Entra answered it with a 5xx or 429 without Retry-After (its
 * throttling cache, per credential); the vault limiter's pause after repeated 429s grows up to 60 s.
 */
const MSAL_THROTTLE_MS = 60_000;
const VAULT_PAUSE_MAX_MS = 60_000;
/** The Retry-After of the 429 storm row. */
const STORM_RETRY_AFTER_S = 2;
/**
 * A 429 storm is shown while it lasts: the change detector lists within one refresh interval of the
 * storm's start, its listing fails after the SDK's two retries (each waiting Retry-After), and the
 * KeyVaultSyncs it reports then fail at once with Throttled; a sync that reaches the vault first is
 * told as soon as the vault pauses it. The slack covers the reconcile and its status write on this busy
 * machine.
 */
const STORM_SHOWN_BOUND_MS = REFRESH_INTERVAL_MS + 2 * STORM_RETRY_AFTER_S * 1000 + 10_000;

interface RowContext {
  world: FaultWorld;
  vault: string;
  /** The version-1 value's version id. */
  v1Version: string;
  v2: string;
  rotate(value: string): Promise<void>;
}

interface SecretRow {
  /** The vault, KeyVaultSync and Secret name. */
  id: string;
  identity?: 'servicePrincipal' | 'podIdentity';
  /** Reasons the user may be shown (the first one shown is printed). */
  reasons: readonly string[];
  /** The reason must be shown within this long after the fault was injected (default: 90 s). */
  shownWithinMs?: number;
  inject(ctx: RowContext): Promise<void>;
  /** Rotate to version 2 while the fault lasts (default); else `end` rotates. */
  rotateDuring?: boolean;
  /** Keep the fault at least this long after it was injected. */
  holdMs?: number;
  /** The Secret must hold version 2 within this long after the fault ended. */
  recoversWithinMs?: number;
  /** Reasons no Warning event of the row may carry. */
  neverShown?: readonly string[];
  end(ctx: RowContext): Promise<void>;
}

let world: FaultWorld;
let history: SecretHistory;

const readFault = (fault: Record<string, unknown>): Pick<SecretRow, 'inject' | 'end'> => ({
  inject: ({ world: w, vault }) => injectFault(w.emu, { vault, ...fault, durationSeconds: 600 }),
  end: ({ world: w, vault }) => clearFaults(w.emu, { vault }),
});

const tokenFault = (operation: 'token' | 'imdsToken'): Pick<SecretRow, 'inject' | 'end' | 'rotateDuring'> => ({
  inject: ({ world: w }) => injectFault(w.emu, { status: 503, retryAfterSeconds: null, durationSeconds: 600 }, [operation]),
  rotateDuring: false,
  end: async (ctx) => {
    await clearFaults(ctx.world.emu, { operation });
    await ctx.rotate(ctx.v2);
  },
});

/**
 * Throttling rows run last, with Entra's usual hour-long tokens: a vault pause may last up to 30 s (the
 * guard's longest wait), longer than the 10 s tokens of the other rows, which no real token is. (Before
 * the Entra row they would also leave the shared service principal an hour-long token to outlast.)
 */
const THROTTLING_ROWS: SecretRow[] = [
  { id: 'r-429-retry-after', reasons: ['Throttled'], shownWithinMs: STORM_SHOWN_BOUND_MS, recoversWithinMs: RECOVERY_BOUND_MS + VAULT_PAUSE_MAX_MS, ...readFault({ status: 429, retryAfterSeconds: STORM_RETRY_AFTER_S }) },
  { id: 'r-429-bare', reasons: ['Throttled'], shownWithinMs: STORM_SHOWN_BOUND_MS, recoversWithinMs: RECOVERY_BOUND_MS + VAULT_PAUSE_MAX_MS, ...readFault({ status: 429, retryAfterSeconds: null }) },
];

const KEY_VAULT_ROWS: SecretRow[] = [
  { id: 'r-500', reasons: ['VaultUnreachable', 'VaultUnavailable'], ...readFault({ status: 500 }) },
  { id: 'r-503', reasons: ['Throttled', 'VaultUnreachable', 'VaultUnavailable'], ...readFault({ status: 503 }) },
  { id: 'r-reset', reasons: ['VaultUnreachable', 'VaultUnavailable'], ...readFault({ reset: true }) },
  // A body cut off is a reset, noticed as the connection closes (VaultUnreachable, then the breaker),
  // never at the request deadline (VaultTimeout).
  { id: 'r-cut-body', reasons: ['VaultUnreachable', 'VaultUnavailable'], neverShown: ['VaultTimeout', 'InvalidResponse'], ...readFault({ truncate: true }) },
  { id: 'r-long-outage', reasons: ['VaultUnavailable', 'VaultUnreachable'], holdMs: LONG_OUTAGE_MS, ...readFault({ status: 503, retryAfterSeconds: null }) },
  {
    id: 'r-deleted',
    reasons: ['ObjectNotFound'],
    rotateDuring: false,
    inject: async ({ world: w, vault }) => {
      await (await w.kv(vault).secrets.beginDeleteSecret('value', { intervalInMs: 100 })).pollUntilDone();
    },
    end: async (ctx) => {
      await (await ctx.world.kv(ctx.vault).secrets.beginRecoverDeletedSecret('value', { intervalInMs: 100 })).pollUntilDone();
      await ctx.rotate(ctx.v2);
    },
  },
  {
    id: 'r-disabled',
    reasons: ['ObjectDisabled'],
    rotateDuring: false,
    inject: async ({ world: w, vault, v1Version }) => {
      await w.kv(vault).secrets.updateSecretProperties('value', v1Version, { enabled: false });
    },
    end: (ctx) => ctx.rotate(ctx.v2),
  },
];

const IDENTITY_ROWS: SecretRow[] = [
  { id: 'r-entra-outage', identity: 'servicePrincipal', reasons: ['AuthenticationFailed', 'AuthenticationTimeout'], holdMs: 2.5 * TOKEN_SECONDS * 1000, recoversWithinMs: RECOVERY_BOUND_MS + MSAL_THROTTLE_MS, ...tokenFault('token') },
  { id: 'r-imds-outage', identity: 'podIdentity', reasons: ['AuthenticationFailed', 'AuthenticationTimeout'], holdMs: 2.5 * TOKEN_SECONDS * 1000, recoversWithinMs: RECOVERY_BOUND_MS, ...tokenFault('imdsToken') },
];

const SKEW_VAULTS = ['r-skew-ahead', 'r-skew-behind'];
/** How long the new certificate version of the pending row stays pending (two refresh intervals). */
const PENDING_SECONDS = 20;
const NEAR_EXPIRY_VAULT = 'r-near-expiry';
const PENDING_VAULT = 'r-pending';

function syncOf(id: string, identity: 'servicePrincipal' | 'podIdentity' = 'servicePrincipal'): Record<string, unknown> {
  return world.spec(id, identity, { refreshInterval: `${REFRESH_INTERVAL_MS / 1000}s`, objects: [{ name: 'value', type: 'secret' }], secretObjects: [{ secretName: id, type: 'Opaque', data: [{ objectName: 'value', key: 'value' }] }] });
}

async function createSync(id: string, spec: Record<string, unknown>): Promise<void> {
  await syncApi(world.kc).create(world.ns, id, spec);
}

/** Messages of the Warning events of `reason` about KeyVaultSync `id`. */
async function warningsOf(id: string, reason: string): Promise<string[]> {
  const events = await world.kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: world.ns, fieldSelector: `involvedObject.name=${id},reason=${reason},type=Warning` });
  return events.items.map((e) => e.message ?? '');
}

/** Sets a secret version, retrying while Entra ID is down for another row (the test's own token). */
async function setValue(vault: string, value: string): Promise<string> {
  return pollUntil(
    async () => (await world.kv(vault).secrets.setSecret('value', value)).properties.version,
    { timeoutMs: 90_000, intervalMs: 500, description: `${vault}/value set` },
  );
}

/** The data of every state the watch saw of Secret `id` (deletions aside), oldest first. */
const dataOf = (id: string): Record<string, string>[] => history.of(id).filter((st) => st.type !== 'DELETED').map((st) => st.data);

const fingerprintOf = (cert: Uint8Array | string | undefined): string => {
  try {
    return new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert ?? new Uint8Array())).fingerprint256;
  } catch {
    return 'unreadable';
  }
};

const keyMatches = (crt: string, key: string): boolean => {
  try {
    return new X509Certificate(crt).checkPrivateKey(createPrivateKey(key));
  } catch {
    return false;
  }
};

/** Every state the watch saw of Secret `id`: only `allowed` values, in their order, never back. */
function expectWholeVersionsInOrder(id: string, allowed: readonly string[]): void {
  const values = dataOf(id).map((d) => d.value ?? '<missing>');
  expect(values.length, `the watch saw Secret ${id}`).toBeGreaterThan(0);
  let at = 0;
  for (const v of values) {
    const i = allowed.indexOf(v);
    expect(i, `Secret ${id} held a value that is no whole version (${values.length} states seen)`).toBeGreaterThanOrEqual(0);
    expect(i, `Secret ${id} went back to an older version`).toBeGreaterThanOrEqual(at);
    at = i;
  }
}

async function runSecretRow(row: SecretRow): Promise<void> {
  const { id } = row;
  const v1 = `${id}-value-1`;
  const v2 = `${id}-value-2`;
  const v1Version = await setValue(id, v1);
  const ctx: RowContext = { world, vault: id, v1Version, v2, rotate: async (value) => void (await setValue(id, value)) };
  await createSync(id, syncOf(id, row.identity));
  await waitForData(world.kc, world.ns, id, { value: v1 }, 90_000);

  const injected = Date.now();
  await row.inject(ctx);
  try {
    await underFault(row, ctx, injected, v1, v2);
  } catch (err) {
    // A failed row ends its fault all the same: rows side by side must not inherit it.
    await row.end(ctx).catch(() => undefined);
    throw err;
  }
  await row.end(ctx);
  const convergedMs = await waitForData(world.kc, world.ns, id, { value: v2 }, CONVERGENCE_BOUND_MS);
  reportConvergence(id, convergedMs);
  if (row.recoversWithinMs !== undefined) expect(convergedMs, `${id} converged after ${convergedMs} ms; the bound is ${row.recoversWithinMs} ms (two refresh intervals, slack, and the client's own pause)`).toBeLessThanOrEqual(row.recoversWithinMs);
  await readyCondition(world.kc, world.ns, id, 'True', 60_000);
  await pollUntil(() => (dataOf(id).at(-1)?.value === v2 ? true : undefined), { timeoutMs: 30_000, description: `the watch saw ${id} at version 2` });
  expectWholeVersionsInOrder(id, [v1, v2]);
  for (const reason of row.neverShown ?? []) expect(await warningsOf(id, reason), `${id} was shown ${reason}`).toEqual([]);
  await deleteSync(world.kc, world.ns, id);
}

/** Waits until the Synced condition of `id` shows one of `reasons`. */
async function shownByCondition(id: string, reasons: readonly string[]): Promise<Shown> {
  return pollUntil(
    async () => {
      const obj = await getSync(world.kc, world.ns, id);
      const synced = conditionOf(obj, 'Synced');
      return synced?.status === 'False' && reasons.includes(synced.reason) ? { via: 'condition' as const, reason: synced.reason, message: synced.message, ready: conditionOf(obj, 'Ready') } : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 250, description: `${id}'s Synced condition showing ${reasons.join(' or ')}` },
  );
}

/**
 * The fault, once shown, stays shown for `forMs` (the fault lasts): the Synced condition is never True
 * again meanwhile (a refresh served from kept reads would make it so), and ends on one of `reasons`.
 */
async function stillShown(id: string, reasons: readonly string[], forMs: number): Promise<void> {
  const until = Date.now() + forMs;
  let last: { status: string; reason: string } | undefined;
  while (Date.now() < until) {
    last = conditionOf(await getSync(world.kc, world.ns, id), 'Synced');
    expect(last?.status, `${id}'s Synced condition while the fault lasts`).not.toBe('True');
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(reasons, `${id}'s Synced reason at the end of ${forMs} ms under the fault`).toContain(last?.reason);
}

/** While the row's fault lasts: what the user is shown, and the last good Secret in place. */
async function underFault(row: SecretRow, ctx: RowContext, injected: number, v1: string, v2: string): Promise<void> {
  const { id } = row;
  if (row.rotateDuring !== false) await ctx.rotate(v2);
  let shown = await waitShown(world.kc, world.ns, id, row.reasons, injected, row.shownWithinMs);
  const shownAfterMs = Date.now() - injected;
  if (row.shownWithinMs !== undefined) {
    console.log(`[fault-matrix] ${id}: shown ${(shownAfterMs / 1000).toFixed(1)} s after the fault began (bound ${row.shownWithinMs / 1000} s)`);
    expect(shownAfterMs, `${id} was shown after ${shownAfterMs} ms`).toBeLessThanOrEqual(row.shownWithinMs);
  }
  // A failure told first by its event may be followed by a sync that still succeeded (a token not yet
  // expired, before the breaker opened): the fault's steady state is the condition, which follows.
  if (shown.via === 'event' && shown.reason !== 'Throttled') shown = await shownByCondition(id, row.reasons);
  console.log(`[fault-matrix] ${id}: shown ${shown.reason} (${shown.via}), Ready=${shown.ready?.status ?? '?'} ${shown.ready?.reason ?? ''}: ${shown.message}`);
  if (row.shownWithinMs !== undefined) await stillShown(id, row.reasons, REFRESH_INTERVAL_MS);
  const holdMs = row.holdMs ?? 0;
  await new Promise((r) => setTimeout(r, Math.max(0, injected + holdMs - Date.now())));

  // What the user sees: the reason, Ready, the metric, and kvsync's words only.
  // Ready stays True only while throttled (the Secrets are in place and nothing is wrong with them).
  expect(shown.ready?.status).toBe(shown.reason === 'Throttled' ? 'True' : 'False');
  if (shown.via === 'condition') {
    // The metric counts the reconcile once it has ended, just after its status write.
    await pollUntil(async () => ((await syncsWithResult(world.controller(), shown.reason)) > 0 ? true : undefined), { timeoutMs: 30_000, description: `kvsync_syncs_total{result="${shown.reason}"}` });
  } else {
    expect(shown.reason).toBe('Throttled');
  }
  const visible = await userVisibleText(world.kc, world.ns, id, world.controller());
  for (const text of AZURE_TEXT) expect(visible).not.toMatch(text);
  expect(visible).not.toContain(v1);
  expect(visible).not.toContain(v2);
  // The last good Secret stays while the fault lasts.
  expect(dataOf(id).at(-1)?.value).toBe(v1);
}

beforeAll(async () => {
  world = await startFaultWorld([...THROTTLING_ROWS, ...KEY_VAULT_ROWS, ...IDENTITY_ROWS].map((r) => r.id).concat(SKEW_VAULTS, NEAR_EXPIRY_VAULT, PENDING_VAULT, 'r-content-type'));
  expect((await admin(world.emu, 'PUT', '/token-lifetime', { lifetimeSeconds: TOKEN_SECONDS })).status).toBe(200);
  history = new SecretHistory(world.kc, world.ns);
  await history.start();
});

afterAll(async () => {
  history?.stop();
  await world?.stop();
});

describe('Key Vault faults (each on its own vault, side by side)', () => {
  for (const row of KEY_VAULT_ROWS) it.concurrent(`${row.id}: last good Secret kept, ${row.reasons.join('/')} shown, converges after`, () => runSecretRow(row));

  it.concurrent(`tokens near expiry: across ${4 * TOKEN_SECONDS} s of ${TOKEN_SECONDS} s tokens, every rotation arrives and no sync fails to authenticate`, async () => {
    // Both credential paths: the service principal (MSAL) and the pod identity (IMDS).
    const ids = [`${NEAR_EXPIRY_VAULT}-sp`, `${NEAR_EXPIRY_VAULT}-pod`];
    let value = 'near-expiry-0';
    await setValue(NEAR_EXPIRY_VAULT, value);
    for (const [i, id] of ids.entries()) {
      const spec = syncOf(NEAR_EXPIRY_VAULT, i === 0 ? 'servicePrincipal' : 'podIdentity');
      await createSync(id, { ...spec, secretObjects: [{ secretName: id, type: 'Opaque', data: [{ objectName: 'value', key: 'value' }] }] });
    }
    const values = [value];
    const started = Date.now();
    let n = 0;
    while (Date.now() - started < 4 * TOKEN_SECONDS * 1000) {
      value = `near-expiry-${++n}`;
      values.push(value);
      await setValue(NEAR_EXPIRY_VAULT, value);
      for (const id of ids) await waitForData(world.kc, world.ns, id, { value }, 60_000);
    }
    for (const id of ids) {
      expect(conditionOf(await syncApi(world.kc).get(world.ns, id), 'Synced')?.status).toBe('True');
      expectWholeVersionsInOrder(id, values);
      await deleteSync(world.kc, world.ns, id);
    }
    // No sync of any row failed to authenticate while tokens kept expiring (no identity fault runs here).
    expect(await syncsWithResult(world.controller(), 'AuthenticationFailed')).toBe(0);
    console.log(`[fault-matrix] ${NEAR_EXPIRY_VAULT}: ${n} rotations over ${((Date.now() - started) / 1000).toFixed(0)} s of ${TOKEN_SECONDS} s tokens, all synced`);
  });

  it.concurrent('r-content-type: whole answers under a wrong Content-Type are read as the JSON they are: every rotation arrives whole', async () => {
    const id = 'r-content-type';
    await setValue(id, `${id}-value-1`);
    await createSync(id, syncOf(id));
    await waitForData(world.kc, world.ns, id, { value: `${id}-value-1` }, 90_000);
    await injectFault(world.emu, { vault: id, contentType: 'text/html; charset=utf-8', durationSeconds: 600 });
    await setValue(id, `${id}-value-2`);
    const ms = await waitForData(world.kc, world.ns, id, { value: `${id}-value-2` }, CONVERGENCE_BOUND_MS);
    console.log(`[fault-matrix] ${id}: the rotation reached the Secret ${(ms / 1000).toFixed(1)} s after it, under the fault`);
    const relabelled = (await requestCounts(world.emu)).filter((c) => c.vault === id && c.status === 200 && (READ_OPERATIONS as readonly string[]).includes(c.operation));
    expect(relabelled.length, 'reads answered under the wrong Content-Type').toBeGreaterThan(0);
    await clearFaults(world.emu, { vault: id });
    expectWholeVersionsInOrder(id, [`${id}-value-1`, `${id}-value-2`]);
    expect(conditionOf(await syncApi(world.kc).get(world.ns, id), 'Synced')?.status).toBe('True');
    await deleteSync(world.kc, world.ns, id);
  });

  it.concurrent('r-pending: a certificate version pending in Key Vault: the last good TLS Secret stays, Ready on the old version, the new one whole once complete', async () => {
    const id = PENDING_VAULT;
    const certificates = world.kv(id).certificates;
    const policy = { issuerName: 'Self', subject: 'CN=pending.example', dnsNames: ['pending.example'] };
    await (await certificates.beginCreateCertificate('tls', policy, { intervalInMs: 100 })).pollUntilDone();
    const v1 = await certificates.getCertificate('tls');
    const v1Fingerprint = fingerprintOf(v1.cer);
    await createSync(id, world.spec(id, 'servicePrincipal', { refreshInterval: '10s', objects: [{ name: 'tls', type: 'certificate' }], secretObjects: [{ secretName: id, type: 'kubernetes.io/tls', data: [{ objectName: 'tls' }] }] }));
    await readyCondition(world.kc, world.ns, id, 'True', 90_000);

    // A new version that stays pending for PENDING_SECONDS (the emulator fixes its end when it is created).
    expect((await admin(world.emu, 'PUT', '/certificate-creation', { pendingSeconds: PENDING_SECONDS })).status).toBe(200);
    const created = Date.now();
    // The first poll sends the create; the operation is then in progress.
    await (await certificates.beginCreateCertificate('tls', policy)).poll();
    expect((await certificates.getCertificateOperation('tls')).getOperationState().certificateOperation?.status).toBe('inProgress');
    expect((await admin(world.emu, 'PUT', '/certificate-creation', { pendingSeconds: 0 })).status).toBe(200);
    // A sync during the pending phase: Ready and Synced on the old version, the old Secret in place.
    const during = await pollUntil(
      async () => ((await lastSyncSeconds(world.controller(), world.ns, id)) ?? 0) * 1000 > created ? syncApi(world.kc).get(world.ns, id) : undefined,
      { timeoutMs: PENDING_SECONDS * 1000, intervalMs: 250, description: `${id} synced during the pending phase` },
    );
    expect(Date.now() - created, 'the sync came while the version was still pending').toBeLessThan(PENDING_SECONDS * 1000);
    expect(conditionOf(during, 'Ready')?.status).toBe('True');
    expect(conditionOf(during, 'Synced')?.status).toBe('True');
    expect(during.status?.objects?.find((x: { name: string }) => x.name === 'tls')?.version).toBe(v1.properties.version);
    expect(fingerprintOf(dataOf(id).at(-1)?.['tls.crt'] ?? '')).toBe(v1Fingerprint);

    // The version completes on the emulator's clock, in whole seconds.
    const v2 = await pollUntil(
      async () => {
        const c = await certificates.getCertificate('tls');
        return c.properties.version !== v1.properties.version ? c : undefined;
      },
      { timeoutMs: PENDING_SECONDS * 1000 + 30_000, intervalMs: 250, description: 'the pending version completed' },
    );
    const v2Fingerprint = fingerprintOf(v2.cer);
    const ended = Date.now();
    await pollUntil(() => (fingerprintOf(dataOf(id).at(-1)?.['tls.crt'] ?? '') === v2Fingerprint ? true : undefined), { timeoutMs: CONVERGENCE_BOUND_MS, intervalMs: 200, description: `${id} holding the completed version` });
    reportConvergence(id, Date.now() - ended);
    const states = dataOf(id);
    for (const st of states) {
      expect([v1Fingerprint, v2Fingerprint]).toContain(fingerprintOf(st['tls.crt'] ?? ''));
      expect(keyMatches(st['tls.crt'] ?? '', st['tls.key'] ?? ''), 'tls.key matches tls.crt in every state').toBe(true);
    }
    await deleteSync(world.kc, world.ns, id);
  });
});

describe('Entra ID and IMDS outages longer than a token (side by side: different credentials)', () => {
  for (const row of IDENTITY_ROWS) it.concurrent(`${row.id}: last good Secret kept, ${row.reasons.join('/')} shown, converges after`, () => runSecretRow(row));
});

/** Tries at a version written in the same second as kvsync's read of the one before it, at most. */
const SAME_SECOND_TRIES = 4;
/** Tries that landed in one second after which the row stops trying. */
const SAME_SECOND_ENOUGH = 2;

/**
 * Rotations whose new version is written in the second kvsync read the previous one (a force-sync reads
 * it at once): the listing then shows one `updated` stamp for both, and only a check dated on Key
 * Vault's clock finds the second. Each try starts as a second begins (the emulator's clock is shifted by
 * whole seconds, so its seconds begin with the host's); a busy machine may not fit the writes and the
 * reads into one second, so the number of tries that did is printed (trying stops after
 * {@link SAME_SECOND_ENOUGH}). Every rotation must reach both Secrets either way. Returns how many tries
 * landed in one second, how many were made, and the slowest arrival of a second version.
 */
async function sameSecondRotations(vault: string, ids: readonly string[], values: string[]): Promise<{ landed: number; tries: number; slowestMs: number }> {
  const write = async (value: string): Promise<number | undefined> => {
    values.push(value);
    return (await world.kv(vault).secrets.setSecret('value', value)).properties.updatedOn?.getTime();
  };
  let landed = 0;
  let slowestMs = 0;
  let n = 0;
  while (n < SAME_SECOND_TRIES && landed < SAME_SECOND_ENOUGH) {
    n++;
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000)));
    const first = `${vault}-same-second-${n}a`;
    const firstStamp = await write(first);
    await Promise.all(ids.map((id) => syncApi(world.kc).patch(world.ns, id, { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: `same-second-${n}` } } })));
    await pollUntil(() => (ids.every((id) => dataOf(id).at(-1)?.value === first) ? true : undefined), { timeoutMs: 60_000, intervalMs: 10, description: `both Secrets at ${first}` });
    const second = `${vault}-same-second-${n}b`;
    const sameStamp = (await write(second)) === firstStamp;
    const written = Date.now();
    for (const id of ids) await waitForData(world.kc, world.ns, id, { value: second }, 60_000);
    if (sameStamp) {
      landed++;
      slowestMs = Math.max(slowestMs, Date.now() - written);
    }
  }
  return { landed, tries: n, slowestMs };
}

describe('clock skew of ±10 minutes between the controller and Azure (the emulator clock shifted)', () => {
  for (const [vault, offsetSeconds] of [['r-skew-ahead', 600], ['r-skew-behind', -600]] as const) {
    it(`${vault}: Azure ${offsetSeconds > 0 ? 'ahead' : 'behind'} by ${Math.abs(offsetSeconds) / 60} min: tokens of both credential paths renew in time, every rotation arrives`, async () => {
      expect((await admin(world.emu, 'POST', '/time', { offsetSeconds })).status).toBe(200);
      const ids = [`${vault}-sp`, `${vault}-pod`];
      const values: string[] = [];
      try {
        // Tokens issued before the shift are the shift's own artefact (a skewed host never had them):
        // they are renewed within one lifetime, before this row's first sync.
        await new Promise((r) => setTimeout(r, (TOKEN_SECONDS + 1) * 1000));
        const rotate = async (value: string): Promise<number> => {
          values.push(value);
          await setValue(vault, value);
          const started = Date.now();
          for (const id of ids) await waitForData(world.kc, world.ns, id, { value }, 60_000);
          return Date.now() - started;
        };
        values.push(`${vault}-0`);
        await setValue(vault, `${vault}-0`);
        for (const [i, id] of ids.entries()) {
          await createSync(id, { ...syncOf(vault, i === 0 ? 'servicePrincipal' : 'podIdentity'), secretObjects: [{ secretName: id, type: 'Opaque', data: [{ objectName: 'value', key: 'value' }] }] });
          await waitForData(world.kc, world.ns, id, { value: `${vault}-0` }, 60_000);
        }
        // Rotations for three token lifetimes: each token is used up to its end and replaced.
        const started = Date.now();
        let slowest = 0;
        for (let n = 1; Date.now() - started < 3 * TOKEN_SECONDS * 1000; n++) slowest = Math.max(slowest, await rotate(`${vault}-${n}`));
        console.log(`[fault-matrix] ${vault}: rotations under the skew reached both Secrets within ${(slowest / 1000).toFixed(1)} s`);
        const same = await sameSecondRotations(vault, ids, values);
        console.log(`[fault-matrix] ${vault}: ${same.landed} of ${same.tries} rotations landed in the second of kvsync's read of the version before; every one reached both Secrets, those within ${(same.slowestMs / 1000).toFixed(1)} s`);
        for (const id of ids) expect(await warningsOf(id, 'AuthenticationFailed'), `${id} failed to authenticate`).toEqual([]);
      } finally {
        await admin(world.emu, 'DELETE', '/time');
      }
      for (const id of ids) {
        expectWholeVersionsInOrder(id, values);
        await deleteSync(world.kc, world.ns, id);
      }
    });
  }
});


describe('Key Vault throttling (hour-long tokens again; each row on its own vault, side by side)', () => {
  beforeAll(async () => {
    expect((await admin(world.emu, 'PUT', '/token-lifetime', { lifetimeSeconds: 3599 })).status).toBe(200);
    // The 10 s tokens held until now (some issued under the shifted clock) age out first.
    await new Promise((r) => setTimeout(r, (TOKEN_SECONDS + 1) * 1000));
  });

  for (const row of THROTTLING_ROWS) it.concurrent(`${row.id}: last good Secret kept, ${row.reasons.join('/')} shown, converges after`, () => runSecretRow(row));
});
