import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeChain, opensslPkcs12, type TestChain } from './test-fixtures.ts';

const CLI = new URL('../cli.ts', import.meta.url).pathname;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node src/cli.ts convert …` as a user would. */
function convert(args: string[], stdin?: Buffer): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [CLI, 'convert', ...args], { encoding: 'utf8', timeout: 15_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(new Error(`convert did not run: ${err.message}`));
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
    });
    child.stdin?.end(stdin);
  });
}

type TlsJson = Record<'tls.crt' | 'tls.key' | 'ca.crt', string | undefined>;

/** Starts a TLS server with `cert`/`key`, connects trusting only `ca`, and reports what the client saw. */
async function handshake(cert: string, key: string, ca: string): Promise<{ authorized: boolean; error?: string; chain: string[] }> {
  const server = tls.createServer({ cert, key }, (socket) => socket.end('hello'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, rejectUnauthorized: false });
    await once(socket, 'secureConnect');
    const chain: string[] = [];
    let peer: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
    while (peer?.raw !== undefined && !chain.includes(peer.subject.CN as string)) {
      chain.push(peer.subject.CN as string);
      peer = peer.issuerCertificate;
    }
    const result = { authorized: socket.authorized, chain, ...(socket.authorizationError ? { error: String(socket.authorizationError) } : {}) };
    socket.destroy();
    return result;
  } finally {
    server.close();
  }
}

describe('kvsync convert', () => {
  let dir: string;
  let rsa: TestChain;
  let ec: TestChain;
  const file = (name: string, content: string | Buffer): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kvsync-convert-'));
    [rsa, ec] = await Promise.all([makeChain('RSA'), makeChain('EC')]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('converts a PFX into tls.crt/tls.key/ca.crt that serve a real TLS handshake (RSA and EC)', async () => {
    for (const chain of [rsa, ec]) {
      const pfx = file(`${chain.leaf.key.asymmetricKeyType}.pfx`, opensslPkcs12(chain.leaf.keyPem, chain.root.certPem + chain.leaf.certPem + chain.intermediate.certPem, ''));
      const result = await convert(['--in', pfx]);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      const out = JSON.parse(result.stdout) as TlsJson;
      expect(Object.keys(out).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
      expect(new X509Certificate(out['ca.crt']!).raw.equals(chain.root.certDer)).toBe(true);

      const ok = await handshake(out['tls.crt']!, out['tls.key']!, out['ca.crt']!);
      expect(ok).toEqual({ authorized: true, chain: ['kvsync test leaf', 'kvsync test intermediate', 'kvsync test root'] });

      // Control: the same server without the intermediate cannot be verified, so the success above
      // proves the server presented leaf + intermediate.
      const leafOnly = await handshake(chain.leaf.certPem, out['tls.key']!, out['ca.crt']!);
      expect(leafOnly.authorized).toBe(false);
      expect(leafOnly.error).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    }
  });

  it('takes the password from a file, writes PKCS#1 and includes the root on request', async () => {
    const pfx = file('pw.pfx', opensslPkcs12(rsa.leaf.keyPem, rsa.leaf.certPem + rsa.intermediate.certPem + rsa.root.certPem, 'from-file'));
    const passwordFile = file('password', 'from-file\n');
    const result = await convert(['--in', pfx, '--password-file', passwordFile, '--key-format', 'pkcs1', '--include-root']);
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as TlsJson;
    expect(out['tls.key']).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(out['tls.crt']!.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    expect((await convert(['--in', pfx, '--password', 'from-file'])).code).toBe(0);
  });

  it('prints no tls.key and no ca.crt for public certificates only, and reads stdin', async () => {
    const result = await convert(['--in', '-'], Buffer.from(ec.intermediate.certPem + ec.leaf.certPem));
    expect(result.code).toBe(0);
    expect(Object.keys(JSON.parse(result.stdout) as TlsJson)).toEqual(['tls.crt']);
  });

  it('writes warnings to stderr and keeps stdout JSON', async () => {
    const pem = file('extra.pem', ec.leaf.keyPem + ec.leaf.certPem + rsa.root.certPem);
    const result = await convert(['--in', pem]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('kvsync convert: warning: dropped certificate "CN=kvsync test root": not in the chain of "CN=kvsync test leaf"\n');
    expect(JSON.parse(result.stdout)).toHaveProperty('tls.key');
  });

  it('fails with one clear line on bad input', async () => {
    const pfx = file('secret.pfx', opensslPkcs12(rsa.leaf.keyPem, rsa.leaf.certPem, 'right-password'));
    const cases: [string[], string][] = [
      [['--in', join(dir, 'missing.pfx')], `kvsync convert: cannot read ${join(dir, 'missing.pfx')}: no such file`],
      [['--in', file('junk.txt', 'not a certificate\n')], 'kvsync convert: UnsupportedFormat: input is neither PEM, PKCS#12, nor a DER certificate'],
      [['--in', pfx, '--password', 'wrong-password'], 'kvsync convert: BadPassword: PKCS#12 password is wrong (MAC or decryption failed)'],
      [['--in', file('cut.pem', rsa.leaf.certPem.slice(0, 300))], 'kvsync convert: InvalidCertificate: PEM block "CERTIFICATE" is not terminated (truncated input?)'],
      [['--in', file('mismatch.pem', ec.leaf.keyPem + rsa.leaf.certPem)], 'kvsync convert: KeyMismatch: the private key matches none of the 1 certificate(s) ("CN=kvsync test leaf")'],
      [['--in', file('ec.pem', ec.leaf.keyPem + ec.leaf.certPem), '--key-format', 'pkcs1'], 'kvsync convert: UnsupportedKeyFormat: key format pkcs1 is only for RSA keys; this key is EC'],
    ];
    const results = await Promise.all(cases.map(([args]) => convert(args)));
    results.forEach((result, i) => {
      const [args, line] = cases[i]!;
      expect(result, args.join(' ')).toEqual({ code: 1, stdout: '', stderr: line + '\n' });
    });
  });

  it('exits 2 on bad usage', async () => {
    const usages = [[], ['--in', 'x', '--key-format', 'der'], ['--in', 'x', '--password', 'a', '--password-file', 'b'], ['--bogus']];
    const [help, ...results] = await Promise.all([convert(['--help']), ...usages.map((args) => convert(args))]);
    results.forEach((result, i) => {
      expect(result.code, usages[i]!.join(' ')).toBe(2);
      expect(result.stderr).toContain('usage: kvsync convert');
    });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--password-file');
  });
});
