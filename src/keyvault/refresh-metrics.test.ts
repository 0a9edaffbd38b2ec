import { describe, expect, it } from 'vitest';
import { RefreshEvents, vaultLabel, type RefreshEvent } from './refresh-metrics.ts';

describe('refresh metrics', () => {
  it('observers get every event until they unsubscribe', () => {
    const events = new RefreshEvents();
    const seen: RefreshEvent[] = [];
    const stop = events.observe((e) => seen.push(e));
    events.tell({ kind: 'cache', result: 'hit' });
    stop();
    events.tell({ kind: 'cache', result: 'miss' });
    expect(seen).toEqual([{ kind: 'cache', result: 'hit' }]);
  });

  it('vaultLabel is the first label of the host, lower case; not a URL → empty', () => {
    expect(vaultLabel('https://ShopKV.vault.azure.net:8443/')).toBe('shopkv');
    expect(vaultLabel('not a url')).toBe('');
  });
});
