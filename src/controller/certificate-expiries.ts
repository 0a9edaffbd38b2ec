/** When the certificates a sync fetched expire: read by the reconciler (metrics) and CertificateWatch (warnings). */
import type { PipelineFetchedObject } from './pipeline.ts';

/**
 * Expiry per Key Vault object name of the certificates among the fetched objects (current or pinned
 * version only): the leaf's notAfter when the certificate was parsed, else Key Vault's `expires`.
 */
export function certificateExpiries(fetched: readonly PipelineFetchedObject[]): Map<string, Date> {
  const out = new Map<string, Date>();
  for (const f of fetched) {
    if ((f.historyIndex ?? 0) !== 0) continue;
    const material = (f as { material?: { kind?: unknown; bundle?: { leaf?: { notAfter?: unknown } } } }).material;
    const notAfter = material?.kind === 'certificate' ? material.bundle?.leaf?.notAfter : undefined;
    if (notAfter instanceof Date) out.set(f.object.name, notAfter);
    else if ((f.object.type === 'certificate' || f.object.type === 'cert') && f.expiresOn !== undefined) out.set(f.object.name, f.expiresOn);
  }
  return out;
}
