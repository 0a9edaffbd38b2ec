/**
 * The two validation handshakes Event Grid runs before it delivers to a webhook:
 * - Event Grid schema: a POST with one `Microsoft.EventGrid.SubscriptionValidationEvent`; the endpoint
 *   answers 200 with `{"validationResponse": "<data.validationCode>"}` (schema.ts parses the request).
 * - CloudEvents 1.0 (the CloudEvents "HTTP 1.1 Web Hooks" abuse protection): an OPTIONS request with
 *   `WebHook-Request-Origin: eventgrid.azure.net` (optionally `WebHook-Request-Rate`); the endpoint
 *   consents with 200 and `WebHook-Allowed-Origin` (and `WebHook-Allowed-Rate` when a rate was asked).
 */

export interface HandshakeAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A DNS name (or `*`): what a sender may put in WebHook-Request-Origin. */
const ORIGIN = /^(\*|[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*)$/;

/** The answer to the Event Grid schema handshake. */
export function validationAnswer(validationCode: string): HandshakeAnswer {
  return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ validationResponse: validationCode }) };
}

/**
 * The answer to a CloudEvents abuse-protection OPTIONS request: consent for the requesting origin,
 * any rate (`*`). 400 when the origin header is missing or not a host name.
 */
export function abuseProtectionAnswer(requestOrigin: string | undefined, requestRate: string | undefined): HandshakeAnswer {
  const origin = requestOrigin?.trim();
  if (origin === undefined || origin === '' || origin.length > 253 || !ORIGIN.test(origin)) {
    return { status: 400, headers: { 'content-type': 'text/plain' }, body: 'WebHook-Request-Origin is required' };
  }
  return {
    status: 200,
    headers: { 'WebHook-Allowed-Origin': origin, Allow: 'POST, OPTIONS', ...(requestRate === undefined ? {} : { 'WebHook-Allowed-Rate': '*' }) },
    body: '',
  };
}
