/**
 * The hostile-input corpus: one file per input kind in this folder exports `cases`; the runner
 * (test/security/hostile-corpus.test.ts) finds every file, so adding a file is enough.
 */
export type CorpusKind = 'spec' | 'pfx' | 'pem' | 'keyvault-response' | 'entra-response' | 'admission-review' | 'eventgrid-delivery' | 'token';

/** What a case's input may be built from (tokens need the run's Entra ID). */
export interface CorpusContext {
  /** A valid token for the Event Grid audience, from the allowed application. */
  validToken(): Promise<string>;
  /** A token with these claims and header, signed with a key that is not the tenant's. */
  forged(claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
  /** The tenant, audience and allowed application the token checks expect. */
  tenantId: string;
  audience: string;
  issuer: string;
}

export interface CorpusCase {
  name: string;
  kind: CorpusKind;
  /** The hostile input, or a function building it. Per kind: see the runner. */
  input: unknown;
  /** The reason the runner must report (e.g. `InvalidSpec`, `Denied`, `HTTP 400`, a token check's why). */
  reason: string;
  /** A text the reported message must contain. */
  detail?: string;
}
