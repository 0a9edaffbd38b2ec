/**
 * Counts the HTTP requests the Key Vault SDK really sends (every retry and the auth challenge
 * included): a pipeline policy placed per retry on every client a KeyVaultAccess (access.ts) builds
 * reports `{vault, operation, status}` to the subscribed observers (the controller's metrics). Object
 * names, versions and bodies are never reported.
 */
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { Observers } from '../util/observers.ts';

export interface KeyVaultRequest {
  /** The vault's name (first label of the host). */
  vault: string;
  /** e.g. `get_secret`, `list_secret_versions`, `get_certificate`, `list_keys`. */
  operation: string;
  /** HTTP status code, or `error` when no response came (network, TLS). */
  status: string;
}

const SINGULAR: Record<string, string> = { secrets: 'secret', certificates: 'certificate', keys: 'key' };

/** `GET /secrets/a/versions` → `list_secret_versions`; `GET /secrets/a/v1` → `get_secret`; unknown paths → `<method>_other`. */
export function keyVaultOperation(method: string, url: string): string {
  const m = method.toLowerCase();
  const parts = new URL(url).pathname.split('/').filter((p) => p !== '');
  const kind = SINGULAR[parts[0] ?? ''];
  if (kind === undefined) return `${m}_other`;
  if (parts.length === 1) return m === 'get' ? `list_${parts[0] ?? ''}` : `${m}_${kind}`;
  if (parts[2] === 'versions' && parts.length === 3) return m === 'get' ? `list_${kind}_versions` : `${m}_${kind}_versions`;
  return `${m}_${kind}`;
}

/** The requests of the clients whose pipelines carry {@link KeyVaultRequests.policy}, told to the observers. */
export class KeyVaultRequests extends Observers<KeyVaultRequest> {
  readonly policy: PipelinePolicy = {
    name: 'kvsyncRequestMetrics',
    sendRequest: async (request, next) => {
      try {
        const response = await next(request);
        this.#report(request.method, request.url, String(response.status));
        return response;
      } catch (err) {
        const code = (err as { statusCode?: unknown }).statusCode;
        this.#report(request.method, request.url, typeof code === 'number' ? String(code) : 'error');
        throw err;
      }
    },
  };

  #report(method: string, url: string, status: string): void {
    if (this.size === 0) return;
    let r: KeyVaultRequest;
    try {
      r = { vault: (new URL(url).hostname.split('.')[0] ?? '').toLowerCase(), operation: keyVaultOperation(method, url), status };
    } catch {
      return;
    }
    this.tell(r);
  }
}
