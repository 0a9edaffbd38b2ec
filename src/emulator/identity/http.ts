/**
 * Small HTTP helpers shared by the identity handlers and the Event Grid admin handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The request body exceeded the limit, or could not be read. */
export class RequestBodyError extends Error {
  readonly reason: 'BodyTooLarge' | 'BodyUnreadable';
  constructor(reason: 'BodyTooLarge' | 'BodyUnreadable', message: string) {
    super(message);
    this.name = 'RequestBodyError';
    this.reason = reason;
  }
}

/** Reads the whole body as UTF-8, refusing more than `limitBytes` (the rest is drained, not buffered). */
export async function readBody(req: IncomingMessage, limitBytes = 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  try {
    for await (const chunk of req) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > limitBytes) {
        tooLarge = true;
        continue;
      }
      chunks.push(buf);
    }
  } catch (err) {
    throw new RequestBodyError('BodyUnreadable', `request body could not be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (tooLarge) {
    throw new RequestBodyError('BodyTooLarge', `request body is larger than ${limitBytes} bytes`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Sends a JSON answer with `Cache-Control: no-store` (tokens and errors must not be cached). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text).toString(),
    'Cache-Control': 'no-store, no-cache',
    Pragma: 'no-cache',
    ...headers,
  });
  res.end(text);
}

/** Sends a plain-text answer the way Go's `http.Error` does (text, newline). */
export function sendText(res: ServerResponse, status: number, text: string): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': Buffer.byteLength(body).toString(),
  });
  res.end(body);
}

/** scheme://host[:port] of the request as the client addressed it. */
export function requestOrigin(req: IncomingMessage, fallback: string): string {
  const host = req.headers.host;
  if (host === undefined || host === '') {
    return fallback.replace(/\/+$/, '');
  }
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  return `${encrypted ? 'https' : 'http'}://${host}`;
}
