/**
 * Test support: a webhook receiver that records every request and answers from a programmable policy.
 * Not used by the product code.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestTls } from '../identity/testing/support.ts';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface ReceiverAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** Decides the answer to each request; the default echoes Event Grid handshakes and accepts events. */
export type ReceiverPolicy = (r: ReceivedRequest, index: number) => ReceiverAnswer;

export const standardReceiverPolicy: ReceiverPolicy = (r): ReceiverAnswer => {
  if (r.method === 'OPTIONS') {
    return { status: 200, headers: { 'WebHook-Allowed-Origin': String(r.headers['webhook-request-origin'] ?? '') } };
  }
  if (r.headers['aeg-event-type'] === 'SubscriptionValidation') {
    const [event] = JSON.parse(r.body) as [{ data: { validationCode: string } }];
    return { status: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ validationResponse: event.data.validationCode }) };
  }
  return { status: 200 };
};

export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  policy: ReceiverPolicy = standardReceiverPolicy;
  readonly #server: http.Server;
  url = '';

  private constructor(server: http.Server) {
    this.#server = server;
  }

  static async start(tls?: TestTls): Promise<WebhookReceiver> {
    const listener: http.RequestListener = (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        const index = receiver.requests.push(r) - 1;
        const a = receiver.policy(r, index);
        res.writeHead(a.status, a.headers).end(a.body);
      });
    };
    const server = tls === undefined ? http.createServer(listener) : https.createServer({ cert: tls.certPem, key: tls.keyPem }, listener);
    const receiver = new WebhookReceiver(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiver.url = `${tls === undefined ? 'http' : 'https'}://${tls === undefined ? '127.0.0.1' : 'localhost'}:${(server.address() as AddressInfo).port}/hook`;
    return receiver;
  }

  /** Requests that carried events (not handshakes). */
  notifications(): ReceivedRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && r.headers['aeg-event-type'] === 'Notification');
  }

  /** Polls until `predicate` holds, failing after `timeoutMs`. */
  async waitFor(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) {
        throw new Error(`condition not met within ${timeoutMs} ms (${this.requests.length} requests received)`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
  }
}
