/**
 * PEM (RFC 7468) splitting and encoding.
 *
 * `splitPem` reads the bundles people actually have: CRLF or LF line ends, text before, between and
 * after blocks (openssl's "Bag Attributes" / "subject=" lines, comments), RFC 1421 headers inside a
 * block (`Proc-Type`/`DEK-Info` of legacy encrypted keys), and any order of keys and certificates.
 * It is a linear line scanner rather than a regular expression over the whole text, so a hostile
 * input of many unterminated BEGIN lines costs O(n), not O(n^2).
 */
import { PkiError } from './errors.ts';

/** One `-----BEGIN <label>----- … -----END <label>-----` block. */
export interface PemBlock {
  /** The label, e.g. `CERTIFICATE`, `PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`. */
  label: string;
  /** RFC 1421 headers (legacy encrypted keys: `Proc-Type`, `DEK-Info`); empty for RFC 7468 PEM. */
  headers: Record<string, string>;
  /** The decoded body. */
  der: Buffer;
  /** The block re-assembled with LF line ends (what node:crypto needs for legacy encrypted keys). */
  text: string;
}

const BEGIN = /^-----BEGIN ([A-Z0-9 #-]{1,64})-----$/;
const END = /^-----END ([A-Z0-9 #-]{1,64})-----$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const HEADER = /^([A-Za-z0-9-]+):\s*(.*)$/;

/** True when `text` contains at least one PEM BEGIN line. */
export function looksLikePem(text: string): boolean {
  return /-----BEGIN [A-Z0-9 #-]{1,64}-----/.test(text);
}

/** Whether a label names private key material (decides the error reason for a broken block). */
export function isPrivateKeyLabel(label: string): boolean {
  return label.endsWith('PRIVATE KEY');
}

/**
 * Splits `text` into its PEM blocks, in input order. Text outside blocks is ignored.
 *
 * @throws PkiError `LimitExceeded` with more than `maxBlocks` blocks; `InvalidCertificate` (or
 *   `InvalidPrivateKey` for a key block) for a block that is not terminated, whose END label differs
 *   from its BEGIN label, or whose body is not base64. Messages name the label only, never content.
 */
export function splitPem(text: string, maxBlocks: number): PemBlock[] {
  const blocks: PemBlock[] = [];
  const lines = text.split(/\r?\n|\r/);
  let open: { label: string; headers: Record<string, string>; body: string[]; inHeaders: boolean } | undefined;

  for (const raw of lines) {
    const line = raw.trim();
    if (open === undefined) {
      const begin = BEGIN.exec(line);
      if (begin?.[1] !== undefined) {
        if (blocks.length >= maxBlocks) {
          throw new PkiError('LimitExceeded', `bundle has more than ${maxBlocks} PEM blocks`);
        }
        open = { label: begin[1], headers: {}, body: [], inHeaders: true };
      }
      continue;
    }
    const end = END.exec(line);
    if (end !== null) {
      if (end[1] !== open.label) {
        throw brokenBlock(open.label, `ends with "END ${end[1]}"`);
      }
      blocks.push(finishBlock(open.label, open.headers, open.body));
      open = undefined;
      continue;
    }
    if (BEGIN.test(line)) {
      throw brokenBlock(open.label, 'is not terminated before the next BEGIN line');
    }
    if (open.inHeaders) {
      const header = HEADER.exec(line);
      if (header?.[1] !== undefined && header[2] !== undefined) {
        open.headers[header[1]] = header[2];
        continue;
      }
      open.inHeaders = false;
      if (line === '') continue; // the blank line that ends RFC 1421 headers
    }
    open.body.push(line);
  }
  if (open !== undefined) {
    throw brokenBlock(open.label, 'is not terminated (truncated input?)');
  }
  return blocks;
}

function finishBlock(label: string, headers: Record<string, string>, body: string[]): PemBlock {
  const b64 = body.join('');
  if (b64.length === 0 || b64.length % 4 !== 0 || !BASE64.test(b64)) {
    throw brokenBlock(label, 'does not contain valid base64');
  }
  const der = Buffer.from(b64, 'base64');
  const headerLines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  const text = [
    `-----BEGIN ${label}-----`,
    ...(headerLines.length > 0 ? [...headerLines, ''] : []),
    ...wrap64(b64),
    `-----END ${label}-----`,
    '',
  ].join('\n');
  return { label, headers, der, text };
}

function brokenBlock(label: string, what: string): PkiError {
  return new PkiError(
    isPrivateKeyLabel(label) ? 'InvalidPrivateKey' : 'InvalidCertificate',
    `PEM block "${label}" ${what}`,
  );
}

function wrap64(b64: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < b64.length; i += 64) out.push(b64.slice(i, i + 64));
  return out;
}

/** Encodes `der` as one PEM block with 64-column lines and a trailing newline. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  return [`-----BEGIN ${label}-----`, ...wrap64(b64), `-----END ${label}-----`, ''].join('\n');
}
