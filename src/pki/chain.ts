/**
 * Certificate chain ordering: leaf first, then intermediates in issuer order, with every link
 * verified by signature (names alone can be forged or merely coincide).
 *
 * Key Vault returns chains in upload order (PEM usually leaf→root, PFX often root→leaf), and users
 * paste bundles in any order; ingress-nginx and most servers need the leaf first. So the order is
 * always rebuilt here from the issuance graph, never taken from the input.
 */
import { createHash, type KeyObject, type X509Certificate } from 'node:crypto';
import { PkiError } from './errors.ts';
import { isSelfSigned, issued, oneLineName } from './certificate.ts';
import { keyMatchesCertificate } from './private-key.ts';

export interface OrderedChain {
  leaf: X509Certificate;
  /** Issuer of the leaf first, then its issuer, …; self-signed roots are not included. */
  intermediates: X509Certificate[];
  /** The self-signed certificate at the top of the chain, when the bundle has it (the leaf itself when self-signed). */
  root?: X509Certificate;
  /**
   * Self-signed certificates that issued a chain member (the root, plus the self-signed twin of a
   * cross-signed intermediate): what a client should trust (`ca.crt`).
   */
  caCertificates: X509Certificate[];
  /** Certificates of the bundle that belong to no chain of the leaf: dropped. */
  unrelated: X509Certificate[];
  /** Human-readable notes (dropped certificates, ambiguous leaf); no secret content. */
  warnings: string[];
}

/** Removes byte-identical certificates, keeping the first of each. */
export function dedupeCertificates(certs: X509Certificate[]): { unique: X509Certificate[]; duplicates: number } {
  const seen = new Set<string>();
  const unique: X509Certificate[] = [];
  for (const cert of certs) {
    const id = createHash('sha256').update(cert.raw).digest('hex');
    if (seen.has(id)) continue;
    seen.add(id);
    unique.push(cert);
  }
  return { unique, duplicates: certs.length - unique.length };
}

const name = (c: X509Certificate): string => `"${oneLineName(c.subject)}"`;

/**
 * Orders `certs` (already de-duplicated) into a chain.
 *
 * Leaf: with `privateKey`, the certificate whose public key it matches (several: the non-CA one,
 * then the one valid longest); without, the certificate that issued no other certificate of the
 * bundle (several: the non-CA one with the longest chain, then input order — with a warning).
 * Walk: from the leaf, repeatedly the not-yet-used certificate that signed the current one,
 * preferring a cross-signed (not self-signed) issuer over a self-signed twin, until a self-signed
 * root or no issuer is found. Every certificate is used at most once, so loops end.
 *
 * @throws PkiError `InvalidCertificate` when `certs` is empty; `KeyMismatch` when `privateKey`
 *   matches none of them.
 */
export function orderChain(certs: X509Certificate[], privateKey?: KeyObject): OrderedChain {
  if (certs.length === 0) {
    throw new PkiError('InvalidCertificate', 'the bundle contains no certificate');
  }
  const warnings: string[] = [];
  const selfSigned = certs.map((c) => isSelfSigned(c));
  // issuersOf[i]: indices of the certificates that signed certs[i] (excluding itself).
  const issuersOf = certs.map((child, i) => certs.flatMap((parent, j) => (i !== j && issued(parent, child) ? [j] : [])));
  const issuedSomething = certs.map((_, j) => issuersOf.some((issuers) => issuers.includes(j)));

  const leafIndex = privateKey !== undefined ? leafForKey(certs, privateKey, warnings) : leafWithoutKey(certs, issuersOf, issuedSomething, selfSigned, warnings);

  const used = new Set<number>([leafIndex]);
  const ca: number[] = [];
  const intermediates: number[] = [];
  let root: number | undefined;
  let current = leafIndex;
  for (;;) {
    if (selfSigned[current] === true) {
      root = current;
      ca.push(current);
      break;
    }
    const candidates = (issuersOf[current] ?? []).filter((j) => !used.has(j));
    if (candidates.length === 0) break;
    for (const j of candidates) if (selfSigned[j] === true && !ca.includes(j)) ca.push(j);
    const crossSigned = candidates.filter((j) => selfSigned[j] !== true);
    const next = pickMostCurrent(certs, crossSigned.length > 0 ? crossSigned : candidates);
    used.add(next);
    if (selfSigned[next] === true) {
      root = next;
      break;
    }
    intermediates.push(next);
    current = next;
  }

  const leaf = certs[leafIndex]!;
  const related = new Set<number>([leafIndex, ...intermediates, ...ca]);
  const unrelated = certs.filter((_, i) => !related.has(i));
  for (const cert of unrelated) {
    warnings.push(`dropped certificate ${name(cert)}: not in the chain of ${name(leaf)}`);
  }
  return {
    leaf,
    intermediates: intermediates.map((i) => certs[i]!),
    ...(root !== undefined ? { root: certs[root]! } : {}),
    caCertificates: ca.map((i) => certs[i]!),
    unrelated,
    warnings,
  };
}

function leafForKey(certs: X509Certificate[], key: KeyObject, warnings: string[]): number {
  const matching = certs.flatMap((c, i) => (keyMatchesCertificate(key, c) ? [i] : []));
  if (matching.length === 0) {
    throw new PkiError(
      'KeyMismatch',
      `the private key matches none of the ${certs.length} certificate(s) (${certs.map(name).join(', ')})`,
    );
  }
  if (matching.length === 1) return matching[0]!;
  const nonCa = matching.filter((i) => !certs[i]!.ca);
  const chosen = pickMostCurrent(certs, nonCa.length > 0 ? nonCa : matching);
  warnings.push(`${matching.length} certificates match the private key; using ${name(certs[chosen]!)}`);
  return chosen;
}

function leafWithoutKey(
  certs: X509Certificate[],
  issuersOf: number[][],
  issuedSomething: boolean[],
  selfSigned: boolean[],
  warnings: string[],
): number {
  const candidates = certs.flatMap((_, i) => (issuedSomething[i] === true ? [] : [i]));
  if (candidates.length === 0) {
    warnings.push(`could not tell the leaf (the certificates issue each other); using ${name(certs[0]!)}`);
    return 0;
  }
  if (candidates.length === 1) return candidates[0]!;
  const nonCa = candidates.filter((i) => !certs[i]!.ca);
  const pool = nonCa.length > 0 ? nonCa : candidates;
  let best = pool[0]!;
  let bestLength = chainLength(best, issuersOf, selfSigned);
  for (const i of pool.slice(1)) {
    const length = chainLength(i, issuersOf, selfSigned);
    if (length > bestLength) {
      best = i;
      bestLength = length;
    }
  }
  warnings.push(`${candidates.length} certificates could be the leaf; using ${name(certs[best]!)} (longest chain)`);
  return best;
}

/** Length of the issuer path from `start` (first issuer at each step, no revisits). */
function chainLength(start: number, issuersOf: number[][], selfSigned: boolean[]): number {
  const seen = new Set<number>([start]);
  let current = start;
  while (selfSigned[current] !== true) {
    const next = (issuersOf[current] ?? []).find((j) => !seen.has(j));
    if (next === undefined) break;
    seen.add(next);
    current = next;
  }
  return seen.size;
}

/** Among `indices`, the certificate valid now that expires last; else the one that expires last. */
function pickMostCurrent(certs: X509Certificate[], indices: number[]): number {
  const now = Date.now();
  const valid = indices.filter((i) => certs[i]!.validFromDate.getTime() <= now && now <= certs[i]!.validToDate.getTime());
  const pool = valid.length > 0 ? valid : indices;
  return pool.reduce((best, i) => (certs[i]!.validToDate > certs[best]!.validToDate ? i : best));
}
