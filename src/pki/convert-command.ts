/**
 * `kvsync convert --in FILE [--password P | --password-file F] [--key-format pkcs8|pkcs1|sec1] [--include-root]`
 *
 * Turns a PFX/PEM/DER certificate bundle into the data of a `kubernetes.io/tls` Secret and prints
 * it as JSON: `{"tls.crt": …, "tls.key": …, "ca.crt": …}` (`tls.key` only when the bundle has a
 * key, `ca.crt` only when it has the root). Warnings (dropped certificates, …) go to stderr.
 *
 * Exit codes: 0 success, 1 bad input (one line on stderr: `kvsync convert: <reason>: <message>`),
 * 2 bad usage. The password is never printed.
 */
import { readFileSync } from 'node:fs';
import { parseCommandArgs } from '../cli-args.ts';
import { describeFsError } from '../util/fs-errors.ts';
import { bundleFromFile } from './bundle.ts';
import { isPkiError } from './errors.ts';
import { DEFAULT_PKI_LIMITS } from './limits.ts';
import { KEY_FORMATS, type KeyFormat } from './private-key.ts';

const USAGE = `usage: kvsync convert --in FILE [--password P | --password-file FILE] [--key-format pkcs8|pkcs1|sec1] [--include-root]

Prints {"tls.crt","tls.key","ca.crt"} as JSON for a PKCS#12 (.pfx/.p12), PEM or DER bundle.
  --in FILE             the bundle ("-" for stdin)
  --password P          PKCS#12 / encrypted-key password (visible in ps; prefer --password-file)
  --password-file FILE  read the password from FILE (one trailing newline is removed)
  --key-format F        tls.key format: pkcs8 (default), pkcs1 (RSA only), sec1 (EC only)
  --include-root        append the self-signed root to tls.crt`;

/** Entry point used by src/cli.ts. */
export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs('convert', USAGE, {
    args: argv,
    allowPositionals: false,
    options: {
      in: { type: 'string' },
      password: { type: 'string' },
      'password-file': { type: 'string' },
      'key-format': { type: 'string' },
      'include-root': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (values.in === undefined) return usageError('--in FILE is required');
  if (values.password !== undefined && values['password-file'] !== undefined) {
    return usageError('give --password or --password-file, not both');
  }
  const keyFormat = values['key-format'] ?? 'pkcs8';
  if (!isKeyFormat(keyFormat)) return usageError(`--key-format must be one of ${KEY_FORMATS.join(', ')}`);

  let input: Buffer;
  let password: string | undefined = values.password;
  try {
    input = values.in === '-' ? await readStdin() : readFileSync(values.in);
  } catch (err) {
    return fail(`cannot read ${values.in}: ${describeFsError(err)}`);
  }
  if (values['password-file'] !== undefined) {
    try {
      password = readFileSync(values['password-file'], 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      return fail(`cannot read the password file ${values['password-file']}: ${describeFsError(err)}`);
    }
  }

  try {
    const bundle = bundleFromFile(input, { password, keyFormat, includeRoot: values['include-root'] });
    for (const warning of bundle.warnings) console.error(`kvsync convert: warning: ${warning}`);
    const out: Record<string, string> = { 'tls.crt': bundle.certificateChainPem };
    if (bundle.privateKeyPem !== undefined) out['tls.key'] = bundle.privateKeyPem;
    if (bundle.caPem !== undefined) out['ca.crt'] = bundle.caPem;
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return 0;
  } catch (err) {
    if (isPkiError(err)) return fail(`${err.reason}: ${err.message}`);
    throw err;
  }
}

function isKeyFormat(value: string): value is KeyFormat {
  return (KEY_FORMATS as readonly string[]).includes(value);
}

function fail(line: string): number {
  console.error(`kvsync convert: ${line}`);
  return 1;
}

function usageError(line: string): number {
  console.error(`kvsync convert: ${line}\n\n${USAGE}`);
  return 2;
}

/** Reads stdin, stopping one byte past the input limit (the bundle code then reports LimitExceeded). */
async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size > DEFAULT_PKI_LIMITS.maxInputBytes) break;
  }
  return Buffer.concat(chunks);
}
