/** `kvsync_eventgrid_events_total{type,result}` on the controller's registry. */
import { Counter, type Registry } from 'prom-client';
import { KEY_VAULT_EVENT_TYPES, SUBSCRIPTION_VALIDATION_EVENT } from './schema.ts';

export const EVENTGRID_EVENTS_METRIC = 'kvsync_eventgrid_events_total';

/**
 * `result`: refreshed | duplicate | unmatched (no KeyVaultSync uses the object) | ignored (another event
 * type) | validated (a handshake) | not_leader (503, Event Grid retries) | malformed (400/413/415) |
 * unauthenticated (401).
 */
export type EventGridResult = 'refreshed' | 'duplicate' | 'unmatched' | 'ignored' | 'validated' | 'not_leader' | 'malformed' | 'unauthenticated';

export interface EventGridMetrics {
  event(type: string, result: EventGridResult): void;
}

const KNOWN_TYPES = new Set<string>([...KEY_VAULT_EVENT_TYPES, SUBSCRIPTION_VALIDATION_EVENT]);

/** `type` is the event type for known ones, `other` for any other and `unknown` before the body is read. */
export function createEventGridMetrics(registry: Registry): EventGridMetrics {
  const counter = new Counter({
    name: EVENTGRID_EVENTS_METRIC,
    help: 'Event Grid deliveries to the push-refresh endpoint, by event type and what was done with them.',
    labelNames: ['type', 'result'],
    registers: [registry],
  });
  return {
    event(type, result) {
      counter.inc({ type: type === 'unknown' || KNOWN_TYPES.has(type) ? type : 'other', result });
    },
  };
}
