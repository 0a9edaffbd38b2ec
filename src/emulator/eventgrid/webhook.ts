/**
 * The HTTP client Event Grid deliveries use: one request to a webhook over HTTP or HTTPS (trusting the
 * system roots plus the given CAs), with a timeout, answering status and (bounded) body. Network errors
 * and timeouts reject with a {@link WebhookRequestError}.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

const RESPONSE_LIMIT_BYTES = 64 * 1024;

export class WebhookRequestError extends Error {
  readonly reason: 'Timeout' | 'NetworkError' | 'InvalidUrl';
  constructor(reason: 'Timeout' | 'NetworkError' | 'InvalidUrl', message: string) {
    super(message);
    this.name = 'WebhookRequestError';
    this.reason = reason;
  }
}

export interface WebhookResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface WebhookRequest {
  method: 'POST' | 'OPTIONS';
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  caPems: string[];
  signal?: AbortSignal;
}

/** Sends one request; never logs the URL's query (it may carry a key) or the headers. */
export function sendWebhookRequest(r: WebhookRequest): Promise<WebhookResponse> {
  let url: URL;
  try {
    url = new URL(r.url);
  } catch {
    return Promise.reject(new WebhookRequestError('InvalidUrl', 'the endpoint URL is not a valid URL'));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(new WebhookRequestError('InvalidUrl', `the endpoint URL scheme ${url.protocol} is not http(s)`));
  }
  const where = `${url.protocol}//${url.host}${url.pathname}`;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...r.headers };
    if (r.body !== undefined) {
      headers['Content-Length'] = Buffer.byteLength(r.body).toString();
    }
    const options: https.RequestOptions = { method: r.method, headers, timeout: r.timeoutMs, ...(r.signal === undefined ? {} : { signal: r.signal }) };
    if (url.protocol === 'https:' && r.caPems.length > 0) {
      options.ca = [...tls.rootCertificates, ...r.caPems];
    }
    const onResponse = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= RESPONSE_LIMIT_BYTES) {
          chunks.push(c);
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => reject(new WebhookRequestError('NetworkError', `${where}: ${e.message}`)));
    };
    const req = url.protocol === 'https:' ? https.request(url, options, onResponse) : http.request(url, options, onResponse);
    req.on('timeout', () => req.destroy(new WebhookRequestError('Timeout', `${where}: no answer within ${r.timeoutMs} ms`)));
    req.on('error', (e) => reject(e instanceof WebhookRequestError ? e : new WebhookRequestError('NetworkError', `${where}: ${e.message}`)));
    req.end(r.body);
  });
}
