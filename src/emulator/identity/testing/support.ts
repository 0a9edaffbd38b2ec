/**
 * Test support for the identity and Event Grid tests: a throwaway CA and server certificate (made with the
 * openssl CLI at test time), a tiny HTTP(S) server that mounts route handlers, an in-memory request
 * counter, and a local OIDC issuer that signs assertions the way a kube-apiserver does.
 * Not used by the product code.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import type { RequestCounter, RouteHandler } from '../contract.ts';

export interface TestTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** A fresh CA and a server certificate for localhost / 127.0.0.1 signed by it. */
export function makeTestTls(): TestTls {
  const dir = mkdtempSync(join(tmpdir(), 'kvsync-idtest-'));
  try {
    const run = (...args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    };
    run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=kvsync test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
    run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2',
      '-extfile', 'server.ext');
    return {
      caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
      certPem: readFileSync(join(dir, 'server.pem'), 'utf8'),
      keyPem: readFileSync(join(dir, 'server.key'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TestServer {
  /** scheme://127.0.0.1:port */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves the handlers in order (404 JSON when none answers) over HTTPS when `tls` is given, else HTTP. */
export async function startServer(handlers: RouteHandler[], tls?: TestTls): Promise<TestServer> {
  const listener: http.RequestListener = (req, res) => {
    const scheme = tls === undefined ? 'http' : 'https';
    const url = new URL(req.url ?? '/', `${scheme}://${req.headers.host ?? '127.0.0.1'}`);
    void (async () => {
      for (const h of handlers) {
        if (await h(req, res, url)) {
          return;
        }
      }
      res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"not found"}');
    })().catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
      }
      res.end(err instanceof Error ? err.message : 'error');
    });
  };
  const server = tls === undefined ? http.createServer(listener) : https.createServer({ cert: tls.certPem, key: tls.keyPem }, listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface CountEntry {
  vault: string;
  operation: string;
  status: number;
}

/** A RequestCounter that remembers every call. */
export class RecordingCounter implements RequestCounter {
  readonly entries: CountEntry[] = [];
  count(vault: string, operation: string, status: number): void {
    this.entries.push({ vault, operation, status });
  }
}

/** A local OIDC issuer (discovery + JWKS over HTTPS) that signs assertions like a kube-apiserver. */
export class TestOidcIssuer {
  readonly issuer: string;
  readonly #server: TestServer;
  readonly #key: CryptoKey;
  readonly #kid: string;
  readonly #served: { count: number };

  private constructor(server: TestServer, key: CryptoKey, kid: string, served: { count: number }) {
    this.#server = server;
    this.#served = served;
    this.issuer = server.url;
    this.#key = key;
    this.#kid = kid;
  }

  /** How many discovery/JWKS requests were served (to observe caching). */
  get fetches(): number {
    return this.#served.count;
  }

  static async start(tls: TestTls): Promise<TestOidcIssuer> {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const exported = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(exported);
    const jwk: JWK = { ...exported, kid, use: 'sig', alg: 'RS256' };
    const served = { count: 0 };
    const handler: RouteHandler = (req, res, url) => {
      served.count++;
      const origin = `https://${url.host}`;
      if (url.pathname === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(
          JSON.stringify({ issuer: origin, jwks_uri: `${origin}/openid/v1/jwks`, response_types_supported: ['id_token'],
            subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] }),
        );
        return Promise.resolve(true);
      }
      if (url.pathname === '/openid/v1/jwks') {
        // Like kube-apiserver: the JWKS is only served as application/jwk-set+json (406 for Accept: application/json).
        const accept = req.headers.accept ?? '*/*';
        if (!accept.includes('application/jwk-set+json') && !accept.includes('*/*')) {
          res.writeHead(406).end();
          return Promise.resolve(true);
        }
        res.writeHead(200, { 'Content-Type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: [jwk] }));
        return Promise.resolve(true);
      }
      return Promise.resolve(false);
    };
    const server = await startServer([handler], tls);
    return new TestOidcIssuer(server, privateKey, kid, served);
  }

  /** Signs a ServiceAccount-like token; `claims` override the defaults (iss, aud, iat, nbf, exp of 1 h). */
  async sign(claims: JWTPayload & { sub: string }, opts: { kid?: string; key?: CryptoKey } = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: this.issuer, aud: ['api://AzureADTokenExchange'], iat: now, nbf: now, exp: now + 3600, ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? this.#kid })
      .sign(opts.key ?? this.#key);
  }

  close(): Promise<void> {
    return this.#server.close();
  }
}
