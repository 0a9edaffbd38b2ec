/**
 * The reasons a KeyVaultSync's `Ready` and `Synced` conditions can carry, and the one function that
 * turns an error into condition text. Every reason has a section in docs/troubleshooting.md (a unit
 * test checks the two lists are the same), and no other code formats an error for a condition.
 */
import { isKvsyncError } from '../util/errors.ts';

/** Every failure reason a condition can show, in the order docs/troubleshooting.md documents them. */
export const FAILURE_REASONS = [
  'InvalidSpec',
  'VaultAccessDenied',
  'ObjectNotFound',
  'ObjectDisabled',
  'AuthenticationFailed',
  'IdentityNotFound',
  'IdentityNotPermitted',
  'InvalidCertificate',
  'CertificateTooExpensive',
  'KeyMismatch',
  'TemplateFailed',
  'Throttled',
  'VaultUnreachable',
  'InvalidResponse',
  'VaultUnavailable',
  'VaultTimeout',
  'AuthenticationTimeout',
  'SyncTimeout',
  'SecretConflict',
  'SecretProtected',
  'ConfigMapConflict',
  'WriteFailed',
  'ApiServerUnreachable',
  'NamespacesFailed',
  'InternalError',
] as const;

export type FailureReason = (typeof FAILURE_REASONS)[number];

/** The reason of a successful sync. */
export const SYNCED_REASON = 'Synced';

export type ConditionReason = FailureReason | typeof SYNCED_REASON;

/** Every reason, success first: the sections docs/troubleshooting.md must have. */
export const CONDITION_REASONS: readonly ConditionReason[] = [SYNCED_REASON, ...FAILURE_REASONS];

const FAILURE_REASON_SET: ReadonlySet<string> = new Set(FAILURE_REASONS);

export function isFailureReason(reason: string): reason is FailureReason {
  return FAILURE_REASON_SET.has(reason);
}

/** What a failed sync's conditions say, and how long the vault or limiter asked kvsync to wait. */
export interface FailureCondition {
  reason: FailureReason;
  message: string;
  retryAfterMs?: number | undefined;
  /** False for an error kvsync has no reason for (a bug): the caller logs its name. */
  known: boolean;
}

/**
 * The condition for anything a sync threw: one of kvsync's errors with a condition reason keeps its
 * reason and message (messages name vaults, objects and Secrets, never values); anything else is
 * `InternalError` naming only the error's class, since its message might carry data.
 */
export function failureCondition(err: unknown): FailureCondition {
  if (isKvsyncError(err) && isFailureReason(err.reason)) {
    return { reason: err.reason, message: err.message, retryAfterMs: err.retryAfterMs, known: true };
  }
  return { reason: 'InternalError', message: `unexpected error: ${err instanceof Error ? err.name : 'unknown'}`, known: false };
}
