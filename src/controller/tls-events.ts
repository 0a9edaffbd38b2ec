/**
 * What `kubectl describe ingress` (or gateway) shows about the TLS Secret kvsync keeps for it: the
 * events of one status change of the derived KeyVaultSync. A Secret that appears in status was
 * created, a recorded data MAC that changed means a rotation, and a Ready condition that turns False
 * (or changes its reason or message) is a refusal with that reason. Messages name Secrets,
 * certificates and versions, never values; condition messages are kvsync's own text.
 */
import type { KeyVaultSyncStatus } from '../api/index.ts';
import { findCondition } from './conditions.ts';
import { READY } from './status.ts';

export interface SourceEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** The parts of a derived KeyVaultSync this reads. */
export interface DerivedSyncView {
  spec?: unknown;
  status?: KeyVaultSyncStatus | undefined;
}

interface DerivedSpecView {
  objects?: { name?: string; alias?: string; version?: string }[];
  secretObjects?: { secretName?: string; data?: { objectName?: string }[] }[];
}

/** The events one status change of a derived KeyVaultSync makes on its Ingress or Gateway. */
export function tlsSourceEvents(before: DerivedSyncView, after: DerivedSyncView): SourceEvent[] {
  const out: SourceEvent[] = [];
  const spec = (after.spec ?? {}) as DerivedSpecView;
  const recorded = new Map((before.status?.secrets ?? []).map((s) => [s.name, s.dataMAC]));
  for (const s of after.status?.secrets ?? []) {
    const was = recorded.get(s.name);
    const cert = certificateOf(spec, after.status, s.name);
    if (!recorded.has(s.name)) out.push({ type: 'Normal', reason: 'TLSSecretCreated', message: `created Secret ${s.name} (kubernetes.io/tls) from ${cert}` });
    else if (was !== s.dataMAC) out.push({ type: 'Normal', reason: 'TLSSecretRotated', message: `Secret ${s.name} now holds ${cert}` });
  }
  const ready = findCondition(after.status?.conditions, READY);
  const previous = findCondition(before.status?.conditions, READY);
  if (ready?.status === 'False' && (previous?.status !== 'False' || previous.reason !== ready.reason || previous.message !== ready.message)) {
    out.push({ type: 'Warning', reason: ready.reason, message: `the TLS Secret is not synced: ${ready.message}` });
  }
  return out;
}

/** `Key Vault certificate <name> version <v>` of the object the Secret is filled from. */
function certificateOf(spec: DerivedSpecView, status: KeyVaultSyncStatus | undefined, secretName: string): string {
  const alias = spec.secretObjects?.find((s) => s.secretName === secretName)?.data?.[0]?.objectName;
  const object = spec.objects?.find((o) => (o.alias ?? o.name) === alias);
  const version = status?.objects?.find((o) => o.name === alias)?.version;
  return `Key Vault certificate ${object?.name ?? alias ?? '?'}${version === undefined ? '' : ` version ${version}`}`;
}
