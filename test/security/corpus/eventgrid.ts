/**
 * Hostile Event Grid deliveries: input is `{ headers, body }` (body a string, sent as it is). The
 * runner's endpoint accepts the shared key `corpus-key-0123456789abcdef`; nothing here may refresh.
 */
import type { CorpusCase } from './types.ts';

const KEY = 'corpus-key-0123456789abcdef';
const json = { 'content-type': 'application/json' };
const event = (data: unknown): string => JSON.stringify([{ id: '1', topic: '/subscriptions/0/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/gebakv', subject: 'db', eventType: 'Microsoft.KeyVault.SecretNewVersionCreated', eventTime: '2026-11-24T20:40:53Z', dataVersion: '1', metadataVersion: '1', data }]);

export const cases: CorpusCase[] = [
  { name: 'no credentials', kind: 'eventgrid-delivery', input: { headers: json, body: event({ VaultName: 'gebakv', ObjectType: 'Secret', ObjectName: 'db' }) }, reason: 'HTTP 401' },
  { name: 'wrong shared key', kind: 'eventgrid-delivery', input: { headers: { ...json, 'aeg-sas-key': `${KEY}x` }, body: event({ VaultName: 'gebakv', ObjectType: 'Secret', ObjectName: 'db' }) }, reason: 'HTTP 401' },
  { name: 'authenticated, not JSON', kind: 'eventgrid-delivery', input: { headers: { ...json, 'aeg-sas-key': KEY }, body: '[{"id":' }, reason: 'HTTP 400' },
  { name: 'authenticated, an event without data', kind: 'eventgrid-delivery', input: { headers: { ...json, 'aeg-sas-key': KEY }, body: event(null) }, reason: 'HTTP 400' },
  { name: 'authenticated, 2 MB body', kind: 'eventgrid-delivery', input: { headers: { ...json, 'aeg-sas-key': KEY }, body: `[${'"x",'.repeat(500_000)}"x"]` }, reason: 'HTTP 413' },
  { name: 'authenticated, object name with path characters', kind: 'eventgrid-delivery', input: { headers: { ...json, 'aeg-sas-key': KEY }, body: event({ VaultName: 'gebakv', ObjectType: 'Secret', ObjectName: '../../secrets/x', Version: 'v' }) }, reason: 'HTTP 400' },
];
