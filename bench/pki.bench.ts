/**
 * PKCS#12 parse cost per flavour. A plain script (no cluster, no vitest project):
 *
 *     node bench/pki.bench.ts
 *
 *
 * What it shows: the cost is dominated by node-forge's pure-JavaScript PKCS#12 key derivation (MAC
 * and legacy PBEs), scaling with iteration count × derivations; PBES2's PBKDF2 runs natively. A file
 * protected with "" costs one extra failed MAC when no password is given (null is tried first, for
 * Key Vault). Timings are printed here, never asserted in tests.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleFromFile } from '../src/pki/bundle.ts';
import { writePfx } from '../src/pki/pfx-writer.ts';
import { makeChain, opensslPkcs12, type TestChain } from '../src/pki/test-fixtures.ts';

const [rsa, ec] = await Promise.all([makeChain('RSA'), makeChain('EC')]);

interface Flavour {
  name: string;
  pfx: Buffer;
  password?: string;
}

function flavours(chain: TestChain): Flavour[] {
  const certs = chain.leaf.certPem + chain.intermediate.certPem + chain.root.certPem;
  const key = chain.leaf.key.export({ format: 'der', type: 'pkcs8' });
  const list: Flavour[] = [
    { name: 'Key Vault style: 3DES, SHA-1 MAC, 2000 it., NULL password', pfx: writePfx([chain.leaf.certDer, chain.intermediate.certDer, chain.root.certDer], key, { iterations: 2000 }) },
    { name: 'OpenSSL 3 default (PBES2 AES-256, SHA-256 MAC, 2048 it.), "" password, none given', pfx: opensslPkcs12(chain.leaf.keyPem, certs, '') },
    { name: 'OpenSSL 3 default, password given', pfx: opensslPkcs12(chain.leaf.keyPem, certs, 'pw'), password: 'pw' },
    { name: 'OpenSSL -legacy (RC2-40 + 3DES, SHA-1 MAC)', pfx: opensslPkcs12(chain.leaf.keyPem, certs, 'pw', ['-legacy']), password: 'pw' },
    { name: 'unencrypted (-keypbe NONE -certpbe NONE), MAC only', pfx: opensslPkcs12(chain.leaf.keyPem, certs, 'pw', ['-keypbe', 'NONE', '-certpbe', 'NONE']), password: 'pw' },
    { name: 'OpenSSL, 10000 it. (Java-like count)', pfx: opensslPkcs12(chain.leaf.keyPem, certs, 'pw', ['-iter', '10000']), password: 'pw' },
  ];
  const java = javaKeystore(chain === ec ? 'EC' : 'RSA');
  if (java) list.push({ name: 'Java 17 keytool PKCS12 (PBES2 AES-256, SHA-256 MAC, 10000 it.)', pfx: java, password: 'changeit' });
  return list;
}

/** A keystore written by Java's keytool, when a JDK is installed (optional). */
function javaKeystore(keyType: 'RSA' | 'EC'): Buffer | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'kvsync-bench-'));
  try {
    const file = join(dir, 'k.p12');
    const alg = keyType === 'EC' ? ['-keyalg', 'EC', '-groupname', 'secp256r1'] : ['-keyalg', 'RSA', '-keysize', '2048'];
    execFileSync('keytool', ['-genkeypair', '-alias', 'a', ...alg, '-dname', 'CN=java', '-storetype', 'PKCS12', '-keystore', file, '-storepass', 'changeit', '-keypass', 'changeit'], {
      stdio: 'ignore',
    });
    return readFileSync(file);
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `fn` until 1 s or 200 runs (after 3 warm-up runs) and returns ms per run. */
function measure(fn: () => void): { msPerOp: number; runs: number } {
  for (let i = 0; i < 3; i++) fn();
  let runs = 0;
  const start = performance.now();
  while (runs < 200 && performance.now() - start < 1000) {
    fn();
    runs++;
  }
  return { msPerOp: (performance.now() - start) / runs, runs };
}

const rows: { case: string; 'ms/op': string; runs: number }[] = [];
for (const [label, chain] of [['RSA-2048', rsa], ['EC P-256', ec]] as const) {
  for (const flavour of flavours(chain)) {
    const opts = flavour.password === undefined ? {} : { password: flavour.password };
    const { msPerOp, runs } = measure(() => bundleFromFile(flavour.pfx, opts));
    rows.push({ case: `PKCS#12 ${label}: ${flavour.name}`, 'ms/op': msPerOp.toFixed(2), runs });
  }
  const pem = Buffer.from(chain.root.certPem + chain.leaf.keyPem + chain.intermediate.certPem + chain.leaf.certPem);
  const { msPerOp, runs } = measure(() => bundleFromFile(pem));
  rows.push({ case: `PEM ${label}: key + 3 certificates, shuffled`, 'ms/op': msPerOp.toFixed(2), runs });
}
console.log(`node ${process.version}, ${(await import('node:os')).cpus().length} CPUs; bundleFromFile (decode + chain + key export)`);
console.table(rows);
