/**
 * Hostile Key Vault, Entra ID and IMDS answers: what a host that is not Azure (or a broken proxy in
 * the way) could send to kvsync, each with the condition reason kvsync must end in. None may crash,
 * hang, exhaust memory, be half-used (a Secret written from an answer without a value), or put the
 * service's text (the marker) into a message. Served by the proxy of ../azure-proxy.ts, which answers
 * the request the case names and passes everything else to the emulator.
 */
import { gzipSync } from 'node:zlib';
import type { HostileAnswer, SeenRequest } from '../azure-proxy.ts';

/** Put into every hostile text: it must never reach a message. */
export const MARKER = 'CORPUS-MARKER-5e1d';

/** Which request the hostile service answers. */
export type CorpusTarget = 'entra-token' | 'vault-read' | 'imds-token';

export interface AzureResponseCase {
  name: string;
  target: CorpusTarget;
  /** The object read: a secret, or a public certificate (`cert`: Key Vault's `cer`). */
  objectType: 'secret' | 'cert';
  answer: HostileAnswer;
  /** The condition reason kvsync ends in; `Synced` when the answer is usable. */
  expectedReason: 'Synced' | 'InvalidResponse' | 'VaultUnreachable' | 'VaultAccessDenied' | 'AuthenticationFailed' | 'InvalidCertificate';
}

export function matches(target: CorpusTarget, r: SeenRequest): boolean {
  switch (target) {
    case 'entra-token':
      return r.service === 'entra' && r.method === 'POST' && r.path.includes('/oauth2/');
    case 'vault-read':
      return r.service === 'vault' && r.authorized && (r.path.startsWith('/secrets/') || r.path.startsWith('/certificates/'));
    case 'imds-token':
      return r.service === 'imds';
  }
}

const MiB = 1024 * 1024;
const jsonHeaders = { 'content-type': 'application/json; charset=utf-8' };
const json = (status: number, body: unknown): HostileAnswer => ({ status, headers: jsonHeaders, body: JSON.stringify(body) });
const html = (status: number): HostileAnswer => ({ status, headers: { 'content-type': 'text/html' }, body: `<html><body><h1>${MARKER}</h1><script>alert(1)</script></body></html>` });

/** A Key Vault secret bundle as the vault at `vaultUrl` would send it (`id` names vault, object and version). */
export function secretBundle(vaultUrl: string, name: string, value: string, idVault = vaultUrl): Record<string, unknown> {
  return { value, id: `${idVault.replace(/\/$/, '')}/secrets/${name}/0123456789abcdef0123456789abcdef`, attributes: { enabled: true, created: 1_700_000_000, updated: 1_700_000_000, recoveryLevel: 'Recoverable' } };
}

/** A Key Vault certificate bundle whose `cer` is `cer` (base64url of what should be DER). */
function certificateBundle(vaultUrl: string, name: string, cer: Buffer): Record<string, unknown> {
  const base = `${vaultUrl.replace(/\/$/, '')}/certificates/${name}/0123456789abcdef0123456789abcdef`;
  return { id: base, kid: base.replace('/certificates/', '/keys/'), sid: base.replace('/certificates/', '/secrets/'), x5t: 'AAAA', cer: cer.toString('base64url'), attributes: { enabled: true, created: 1_700_000_000, updated: 1_700_000_000 } };
}

/** The corpus for the vault at `vaultUrl` (the proxy's URL of the emulator's vault), reading `secretName`/`certName`. */
export function azureResponseCorpus(vaultUrl: string, secretName: string, certName: string): AzureResponseCase[] {
  const token = (fields: Record<string, unknown>): HostileAnswer => json(200, { token_type: 'Bearer', access_token: 'not-a-jwt', ...fields });
  const imdsToken = (fields: Record<string, unknown>): HostileAnswer => json(200, { token_type: 'Bearer', access_token: 'not-a-jwt', resource: 'https://vault.azure.net', ...fields });
  return [
    // Key Vault
    { name: 'a secret value of 30 MiB', target: 'vault-read', objectType: 'secret', answer: { status: 200, headers: jsonHeaders, chunkBytes: MiB, chunks: 30 }, expectedReason: 'InvalidResponse' },
    { name: 'a gzip body inflating to 64 MiB', target: 'vault-read', objectType: 'secret', answer: { status: 200, headers: { ...jsonHeaders, 'content-encoding': 'gzip' }, body: gzipSync(Buffer.alloc(64 * MiB, 0x20)) }, expectedReason: 'InvalidResponse' },
    { name: 'a 200 with truncated JSON', target: 'vault-read', objectType: 'secret', answer: { status: 200, headers: jsonHeaders, body: `{"value": "${MARKER}` }, expectedReason: 'InvalidResponse' },
    { name: 'a 200 in HTML (wrong content type)', target: 'vault-read', objectType: 'secret', answer: html(200), expectedReason: 'InvalidResponse' },
    { name: 'a 200 JSON without a value', target: 'vault-read', objectType: 'secret', answer: json(200, { ...secretBundle(vaultUrl, secretName, ''), value: undefined }), expectedReason: 'InvalidResponse' },
    { name: 'a 500 in HTML carrying a marker', target: 'vault-read', objectType: 'secret', answer: html(500), expectedReason: 'VaultUnreachable' },
    { name: 'a 403 whose code and message echo input', target: 'vault-read', objectType: 'secret', answer: json(403, { error: { code: `${MARKER} <b>`, message: `Caller ${MARKER} is not allowed`, innererror: { code: 'ForbiddenByRbac' } } }), expectedReason: 'VaultAccessDenied' },
    { name: 'a redirect to another host', target: 'vault-read', objectType: 'secret', answer: { status: 302, headers: { location: `https://evil.example/${MARKER}` } }, expectedReason: 'InvalidResponse' },
    { name: 'an id naming another vault', target: 'vault-read', objectType: 'secret', answer: json(200, secretBundle(vaultUrl, secretName, 'value-of-another-vault', 'https://payrollkv.vault.azure.net')), expectedReason: 'InvalidResponse' },
    { name: 'an id naming another object', target: 'vault-read', objectType: 'secret', answer: json(200, secretBundle(vaultUrl, 'some-other-secret', 'value-of-another-object')), expectedReason: 'InvalidResponse' },
    { name: 'a certificate whose cer is not DER', target: 'vault-read', objectType: 'cert', answer: json(200, certificateBundle(vaultUrl, certName, Buffer.from(`not DER: ${MARKER}`))), expectedReason: 'InvalidCertificate' },
    { name: 'the connection closed without an answer', target: 'vault-read', objectType: 'secret', answer: { destroy: true }, expectedReason: 'VaultUnreachable' },
    // Entra ID
    { name: 'Entra: AADSTS700016 echoing the client ID', target: 'entra-token', objectType: 'secret', answer: json(400, { error: 'unauthorized_client', error_description: `AADSTS700016: Application with identifier '${MARKER}' was not found in the directory.`, error_codes: [700016] }), expectedReason: 'AuthenticationFailed' },
    { name: 'Entra: an error page in HTML', target: 'entra-token', objectType: 'secret', answer: html(502), expectedReason: 'AuthenticationFailed' },
    { name: 'Entra: a token response of 30 MiB', target: 'entra-token', objectType: 'secret', answer: { status: 200, headers: jsonHeaders, chunkBytes: MiB, chunks: 30 }, expectedReason: 'AuthenticationFailed' },
    { name: 'Entra: a 200 in HTML', target: 'entra-token', objectType: 'secret', answer: html(200), expectedReason: 'AuthenticationFailed' },
    { name: 'Entra: a token without expires_in', target: 'entra-token', objectType: 'secret', answer: token({}), expectedReason: 'AuthenticationFailed' },
    { name: 'Entra: a token with a negative expires_in', target: 'entra-token', objectType: 'secret', answer: token({ expires_in: -3600 }), expectedReason: 'AuthenticationFailed' },
    // IMDS
    { name: 'IMDS: a token without expires_in / expires_on', target: 'imds-token', objectType: 'secret', answer: imdsToken({}), expectedReason: 'AuthenticationFailed' },
    { name: 'IMDS: a token with a negative expires_in', target: 'imds-token', objectType: 'secret', answer: imdsToken({ expires_in: '-60' }), expectedReason: 'AuthenticationFailed' },
    { name: 'IMDS: a token response of 30 MiB', target: 'imds-token', objectType: 'secret', answer: { status: 200, headers: jsonHeaders, chunkBytes: MiB, chunks: 30 }, expectedReason: 'AuthenticationFailed' },
    { name: 'IMDS: an HTML error page carrying a marker', target: 'imds-token', objectType: 'secret', answer: html(500), expectedReason: 'AuthenticationFailed' },
  ];
}
