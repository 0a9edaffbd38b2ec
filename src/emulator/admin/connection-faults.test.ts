import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { applyTokenFault, enactConnectionFault } from './connection-faults.ts';
import { parseFaultSpec, TrafficControl, type TrafficDecision } from './traffic.ts';

const BODY = JSON.stringify({ value: 'x'.repeat(200) });

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((r) => (server === undefined ? r() : server.close(() => r())));
  server = undefined;
});

/** Starts a server whose requests `handle` answers; returns its port. */
async function serve(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Promise<number> {
  server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function answerJson(res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(BODY)) });
  res.end(BODY);
}

interface Outcome {
  status?: number;
  contentType?: string;
  body?: string;
  error?: string;
}

function get(port: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', body: Buffer.concat(chunks).toString() }));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), error: err.code ?? err.message }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), error: 'aborted' }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end();
  });
}

async function through(decision: TrafficDecision): Promise<Outcome> {
  const port = await serve(async (req, res) => {
    if (!enactConnectionFault(decision, req, res)) answerJson(res);
    await Promise.resolve();
  });
  return get(port);
}

describe('connection faults', () => {
  it('passes an answer through untouched without a fault', async () => {
    expect(await through({ action: 'pass', delayMs: 0 })).toEqual({ status: 200, contentType: 'application/json; charset=utf-8', body: BODY });
  });

  it('closes the connection (drop) or resets it (reset) before any answer', async () => {
    expect((await through({ action: 'drop', delayMs: 0 })).error).toBe('ECONNRESET');
    expect((await through({ action: 'reset', delayMs: 0 })).error).toBe('ECONNRESET');
  });

  it('cuts the answer off after half its body, short of its Content-Length', async () => {
    const got = await through({ action: 'truncate', delayMs: 0 });
    expect(got.status).toBe(200);
    expect(got.error).toBeDefined();
    expect(got.body).toBe(BODY.slice(0, Math.floor(BODY.length / 2)));
  });

  it('sends the real body under another Content-Type', async () => {
    expect(await through({ action: 'contentType', contentType: 'text/html', delayMs: 0 })).toEqual({ status: 200, contentType: 'text/html', body: BODY });
  });

  it('answers a token request with the rejection of the fault naming its operation, and counts what it sent', async () => {
    const traffic = new TrafficControl();
    traffic.addFault(parseFaultSpec({ operation: 'token', status: 503, retryAfterSeconds: 7, count: 1 }, Date.now()));
    traffic.addFault(parseFaultSpec({ operation: 'imdsToken', drop: true, count: 1 }, Date.now()));
    const counted: (number | undefined)[] = [];
    const port = await serve(async (req, res) => {
      const operation = req.headers['x-op'] === 'imds' ? 'imdsToken' : 'token';
      const status = await applyTokenFault(traffic, operation, req, res, (s, retryAfter) => {
        res.writeHead(s, { 'Retry-After': String(retryAfter) });
        res.end();
      });
      counted.push(status);
      if (status === undefined) answerJson(res);
    });
    const withOp = (op: string): Promise<Outcome> =>
      new Promise((resolve) => {
        const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { 'x-op': op } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        });
        req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? '' }));
        req.end();
      });
    expect(await withOp('entra')).toEqual({ status: 503 });
    expect(await withOp('imds')).toEqual({ error: 'ECONNRESET' });
    expect(await withOp('entra')).toEqual({ status: 200 });
    expect(counted).toEqual([503, 0, undefined]);
  });
});
