import { describe, expect, it } from 'vitest';
import { isPrivateKeyLabel, looksLikePem, splitPem, toPem } from './pem.ts';

const body = Buffer.from('hello pem world, long enough to wrap over more than one line of sixty-four columns');

describe('splitPem', () => {
  it('reads blocks in order, with CRLF and text around and between them', () => {
    const text = ['Bag Attributes', '    localKeyId: 01 02', toPem('PRIVATE KEY', body), 'subject=CN=x', toPem('CERTIFICATE', Buffer.from('cert'))]
      .join('\n')
      .replaceAll('\n', '\r\n');
    const blocks = splitPem(text, 10);
    expect(blocks.map((b) => b.label)).toEqual(['PRIVATE KEY', 'CERTIFICATE']);
    expect(blocks[0]!.der.equals(body)).toBe(true);
    expect(blocks[1]!.der.toString()).toBe('cert');
    expect(blocks[0]!.text).toBe(toPem('PRIVATE KEY', body));
  });

  it('keeps RFC 1421 headers of legacy encrypted keys', () => {
    const pem = toPem('RSA PRIVATE KEY', body).replace('-----\n', '-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00FF\n\n');
    const [block] = splitPem(pem, 10);
    expect(block!.headers).toEqual({ 'Proc-Type': '4,ENCRYPTED', 'DEK-Info': 'AES-128-CBC,00FF' });
    expect(block!.der.equals(body)).toBe(true);
    expect(block!.text).toContain('Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00FF\n\n');
  });

  it('returns nothing for text without blocks', () => {
    expect(splitPem('just text\n', 10)).toEqual([]);
    expect(looksLikePem('just text')).toBe(false);
    expect(looksLikePem('x\n-----BEGIN CERTIFICATE-----\n')).toBe(true);
  });

  it('rejects a truncated block, naming the label and not the content', () => {
    const truncated = toPem('PRIVATE KEY', body).slice(0, 60);
    expect(() => splitPem(truncated, 10)).toThrow(
      expect.objectContaining({ reason: 'InvalidPrivateKey', message: 'PEM block "PRIVATE KEY" is not terminated (truncated input?)' }),
    );
    const certThenBegin = '-----BEGIN CERTIFICATE-----\nAAAA\n' + toPem('CERTIFICATE', body);
    expect(() => splitPem(certThenBegin, 10)).toThrow(expect.objectContaining({ reason: 'InvalidCertificate' }));
  });

  it('rejects a mismatched END line and bad base64', () => {
    expect(() => splitPem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n', 10)).toThrow(/ends with "END PRIVATE KEY"/);
    expect(() => splitPem('-----BEGIN CERTIFICATE-----\nAA*A\n-----END CERTIFICATE-----\n', 10)).toThrow(/not contain valid base64/);
    expect(() => splitPem('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n', 10)).toThrow(/not contain valid base64/);
  });

  it('bounds the number of blocks', () => {
    const many = toPem('CERTIFICATE', body).repeat(5);
    expect(splitPem(many, 5)).toHaveLength(5);
    expect(() => splitPem(many, 4)).toThrow(expect.objectContaining({ reason: 'LimitExceeded' }));
  });

  it('scans many unterminated BEGIN lines in linear time', () => {
    const hostile = '-----BEGIN X-----\n' + 'AAAA\n'.repeat(50_000);
    expect(() => splitPem(hostile, 10)).toThrow(/not terminated/);
  });
});

describe('toPem / isPrivateKeyLabel', () => {
  it('wraps at 64 columns', () => {
    const lines = toPem('CERTIFICATE', Buffer.alloc(100, 1)).trimEnd().split('\n');
    expect(lines[0]).toBe('-----BEGIN CERTIFICATE-----');
    expect(lines[1]).toHaveLength(64);
    expect(lines.at(-1)).toBe('-----END CERTIFICATE-----');
  });

  it('knows key labels', () => {
    expect(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'ENCRYPTED PRIVATE KEY'].every(isPrivateKeyLabel)).toBe(true);
    expect(isPrivateKeyLabel('CERTIFICATE')).toBe(false);
  });
});
