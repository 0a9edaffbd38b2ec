/** Drift repair and the MAC record it reads, without a cluster (the integration test runs both on one). */
import type * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DriftRepair, type DriftCause } from './drift-repair.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, SYNC_LABEL } from './labels.ts';
import { dataMac } from './mac.ts';
import type { KeyVaultSyncObject } from './reconciler.ts';
import { WrittenMacs } from './written-macs.ts';

const macKey = Buffer.alloc(32, 7);
const mac = (value: string): string => dataMac(macKey, { namespace: 'shop', name: 'web-db', type: 'Opaque' }, { PASSWORD: Buffer.from(value) });

function secret(value: string): k8s.V1Secret {
  return {
    metadata: { name: 'web-db', namespace: 'shop', labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [SYNC_LABEL]: 'web' } },
    type: 'Opaque',
    data: { PASSWORD: Buffer.from(value).toString('base64') },
  };
}

function world(status?: KeyVaultSyncObject['status']) {
  const written = new WrittenMacs();
  const enqueued: string[] = [];
  const causes: DriftCause[] = [];
  const sync: KeyVaultSyncObject = { metadata: { name: 'web', namespace: 'shop' }, ...(status === undefined ? {} : { status }) };
  const drift = new DriftRepair({
    getSync: (ns, name) => (ns === 'shop' && name === 'web' ? sync : undefined),
    written,
    macKey,
    enqueue: (key) => void enqueued.push(key),
    log: pino({ level: 'silent' }),
    onRepair: (cause) => void causes.push(cause),
  });
  return { written, drift, enqueued, causes };
}

/** A write whose response the test releases: the watch event of the write can come first. */
function pendingWrite(): { write: () => Promise<string>; respond: () => void; fail: () => void } {
  let respond = (): void => undefined;
  let fail = (): void => undefined;
  const promise = new Promise<string>((resolve, reject) => {
    respond = () => resolve('updated');
    fail = () => reject(new Error('HTTP 500'));
  });
  return { write: () => promise, respond, fail };
}

describe('DriftRepair', () => {
  it("never repairs kvsync's own write, even when its watch event arrives before the write's response", async () => {
    const w = world();
    await w.written.write('shop', 'web-db', mac('v1'), () => Promise.resolve('created'));
    for (let i = 2; i <= 20; i++) {
      const p = pendingWrite();
      const done = w.written.write('shop', 'web-db', mac(`v${i}`), p.write);
      expect(w.drift.secretChanged(secret(`v${i}`), false)).toBe(false);
      p.respond();
      await done;
      expect(w.drift.secretChanged(secret(`v${i}`), false)).toBe(false);
    }
    expect(w.enqueued).toEqual([]);
    expect(w.causes).toEqual([]);
  });

  it('repairs data kvsync did not write, and a delete, counting each by cause', async () => {
    const w = world();
    await w.written.write('shop', 'web-db', mac('v1'), () => Promise.resolve('created'));
    expect(w.drift.secretChanged(secret('tampered'), false)).toBe(true);
    expect(w.drift.secretChanged(secret('v1'), true)).toBe(true);
    expect(w.enqueued).toEqual(['shop/web', 'shop/web']);
    expect(w.causes).toEqual(['changed', 'deleted']);
  });

  it('after a failed write, only the data from before it is kvsync\'s', async () => {
    const w = world();
    await w.written.write('shop', 'web-db', mac('v1'), () => Promise.resolve('created'));
    const p = pendingWrite();
    const done = w.written.write('shop', 'web-db', mac('v2'), p.write);
    p.fail();
    await expect(done).rejects.toThrow('HTTP 500');
    expect(w.drift.secretChanged(secret('v1'), false)).toBe(false);
    expect(w.drift.secretChanged(secret('v2'), false)).toBe(true);
  });

  it("uses the MAC in the KeyVaultSync's status when this replica wrote nothing (after a restart)", () => {
    const w = world({ secrets: [{ name: 'web-db', dataMAC: mac('v1') }] });
    expect(w.drift.secretChanged(secret('v1'), false)).toBe(false);
    expect(w.drift.secretChanged(secret('tampered'), false)).toBe(true);
  });

  it('does nothing without a record to compare with, or for a Secret of an unknown KeyVaultSync', () => {
    const w = world();
    expect(w.drift.secretChanged(secret('anything'), false)).toBe(false);
    expect(w.drift.secretChanged(secret('anything'), true)).toBe(false);
    const stranger = secret('x');
    stranger.metadata = { ...stranger.metadata, labels: { [SYNC_LABEL]: 'other' } };
    expect(w.drift.secretChanged(stranger, true)).toBe(false);
    expect(w.enqueued).toEqual([]);
  });
});
