import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../util/poll.ts';
import { FileCertificateSource, needsRenewal, readCertificateFiles, renewCertificates, splitCertificates } from './certificates.ts';
import type { ServingCertificate } from './certificates.ts';
import { WebhookCertificateError } from './errors.ts';

const DAY = 24 * 3600_000;
const names = { dnsNames: ['kvsync-webhook.kvsync-system.svc'], ipAddresses: ['127.0.0.1'] };

describe('webhook certificates', () => {
  it('issues a serving certificate for the names, signed by the CA in the bundle', async () => {
    const c = await renewCertificates(undefined, names);
    const leaf = new X509Certificate(c.certPem);
    expect(leaf.subjectAltName).toBe('DNS:kvsync-webhook.kvsync-system.svc, IP Address:127.0.0.1');
    expect(leaf.checkIssued(new X509Certificate(c.caCertPem))).toBe(true);
    expect(splitCertificates(c.caBundlePem)).toEqual([c.caCertPem]);
    expect(needsRenewal(c, names)).toBe(false);
  });

  it('renews the leaf when a third of its lifetime is left, keeping the CA', async () => {
    const start = Date.now();
    const c = await renewCertificates(undefined, { ...names, leafValidityMs: 90 * DAY, now: () => new Date(start) });
    expect(needsRenewal(c, { ...names, now: () => new Date(start + 59 * DAY) })).toBe(false);
    expect(needsRenewal(c, { ...names, now: () => new Date(start + 61 * DAY) })).toBe(true);
    const next = await renewCertificates(c, { ...names, now: () => new Date(start + 61 * DAY) });
    expect(next.caCertPem).toBe(c.caCertPem);
    expect(next.certPem).not.toBe(c.certPem);
    expect(next.caBundlePem).toBe(c.caBundlePem);
  });

  it('renews when the wanted names change', async () => {
    const c = await renewCertificates(undefined, names);
    expect(needsRenewal(c, { dnsNames: ['other.svc'] })).toBe(true);
  });

  it('on a new CA keeps the previous CA in the bundle so the old leaf stays trusted', async () => {
    const c = await renewCertificates(undefined, names);
    const next = await renewCertificates(c, names, true);
    expect(next.caCertPem).not.toBe(c.caCertPem);
    expect(splitCertificates(next.caBundlePem)).toEqual([next.caCertPem, c.caCertPem]);
    expect(new X509Certificate(next.certPem).checkIssued(new X509Certificate(next.caCertPem))).toBe(true);
  });

  describe('files (cert-manager)', () => {
    const dirs: string[] = [];
    afterAll(async () => {
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    });

    it('reloads a changed pair and refuses a key that does not match, without printing it', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'kvsync-wh-'));
      dirs.push(dir);
      const certFile = join(dir, 'tls.crt');
      const keyFile = join(dir, 'tls.key');
      const a = await renewCertificates(undefined, names);
      const b = await renewCertificates(undefined, names);
      await writeFile(certFile, a.certPem);
      await writeFile(keyFile, a.keyPem);
      const seen: ServingCertificate[] = [];
      const errors: unknown[] = [];
      const src = new FileCertificateSource({ certFile, keyFile, pollIntervalMs: 20, onChange: (c) => seen.push(c), onError: (e) => errors.push(e) });
      expect((await src.load()).certPem).toBe(a.certPem);
      src.start();
      try {
        // Half-updated (new cert, old key): rejected, not served.
        await writeFile(certFile, b.certPem);
        await pollUntil(() => (errors.length > 0 ? true : undefined), { timeoutMs: 5000, description: 'a mismatch error' });
        expect(errors[0]).toBeInstanceOf(WebhookCertificateError);
        expect(String((errors[0] as Error).message)).not.toContain('PRIVATE KEY');
        expect(seen).toEqual([]);
        await writeFile(keyFile, b.keyPem);
        await pollUntil(() => (seen.length > 0 ? true : undefined), { timeoutMs: 5000, description: 'the new pair' });
        expect(seen[0]?.certPem).toBe(b.certPem);
      } finally {
        src.stop();
      }
      await expect(readCertificateFiles(join(dir, 'missing.crt'), keyFile)).rejects.toMatchObject({ reason: 'CertificateFilesUnreadable' });
    });
  });
});
