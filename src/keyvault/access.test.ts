import type { PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { describe, expect, it } from 'vitest';
import { KeyVaultAccess } from './access.ts';
import type { KeyVaultRequest } from './request-metrics.ts';

const request = { method: 'GET', url: 'https://devkv.vault.azure.net/secrets/db' } as unknown as PipelineRequest;
const ok = (r: PipelineRequest): Promise<PipelineResponse> => Promise.resolve({ request: r, status: 200, headers: { get: () => undefined } } as unknown as PipelineResponse);

describe('KeyVaultAccess', () => {
  it('shares nothing with another instance: limiter pauses, options and observers are its own', async () => {
    const a = new KeyVaultAccess({ guards: { requestsPer10s: 10 } });
    const b = new KeyVaultAccess();
    a.guards.guard('devkv.vault.azure.net').limiter.pause(60_000);
    expect(a.guards.guard('devkv.vault.azure.net').limiter.pausedForMs()).toBeGreaterThan(0);
    expect(b.guards.guard('devkv.vault.azure.net').limiter.pausedForMs()).toBe(0);
    expect(a.guards.options.requestsPer10s).toBe(10);
    expect(b.guards.options.requestsPer10s).not.toBe(10);

    const seenByA: KeyVaultRequest[] = [];
    a.requests.observe((r) => seenByA.push(r));
    await b.requests.policy.sendRequest(request, ok);
    expect(seenByA).toEqual([]);
    await a.requests.policy.sendRequest(request, ok);
    expect(seenByA).toEqual([{ vault: 'devkv', operation: 'get_secret', status: '200' }]);
  });
});
