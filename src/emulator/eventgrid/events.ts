/**
 * Key Vault events as Azure Event Grid delivers them (learn.microsoft.com "Azure Key Vault as Event Grid
 * source"), in the Event Grid schema and in the CloudEvents 1.0 schema, plus the subscription validation
 * event of the Event Grid handshake.
 */
import { randomUUID } from 'node:crypto';

export type KeyVaultEventType =
  | 'Microsoft.KeyVault.SecretNewVersionCreated'
  | 'Microsoft.KeyVault.CertificateNewVersionCreated'
  | 'Microsoft.KeyVault.SecretNearExpiry'
  | 'Microsoft.KeyVault.SecretExpired'
  | 'Microsoft.KeyVault.CertificateNearExpiry'
  | 'Microsoft.KeyVault.CertificateExpired';

export const KEY_VAULT_EVENT_TYPES: readonly KeyVaultEventType[] = [
  'Microsoft.KeyVault.SecretNewVersionCreated',
  'Microsoft.KeyVault.CertificateNewVersionCreated',
  'Microsoft.KeyVault.SecretNearExpiry',
  'Microsoft.KeyVault.SecretExpired',
  'Microsoft.KeyVault.CertificateNearExpiry',
  'Microsoft.KeyVault.CertificateExpired',
];

/** What the Key Vault side reports; see publisher.ts. */
export interface KeyVaultEvent {
  type: KeyVaultEventType;
  vaultName: string;
  /** https://<vault>.vault.azure.net[:port] — the `Id` in the payload is built from it. */
  vaultUrl: string;
  objectType: 'Secret' | 'Certificate';
  objectName: string;
  version: string;
  /** seconds since the epoch */
  nbf?: number;
  /** seconds since the epoch */
  exp?: number;
}

/** The `data` of a Key Vault event (PascalCase, NBF/EXP null when unset, as Azure sends them). */
export interface KeyVaultEventData {
  Id: string;
  VaultName: string;
  ObjectType: 'Secret' | 'Certificate';
  ObjectName: string;
  Version: string;
  NBF: number | null;
  EXP: number | null;
}

export interface EventGridEvent<T> {
  id: string;
  topic: string;
  subject: string;
  eventType: string;
  eventTime: string;
  data: T;
  dataVersion: string;
  metadataVersion: '1';
}

export interface CloudEvent<T> {
  id: string;
  source: string;
  specversion: '1.0';
  type: string;
  subject: string;
  time: string;
  data: T;
}

/** Where the emulated vaults live in ARM. */
export interface ArmScope {
  subscriptionId: string;
  resourceGroup: string;
}

export function vaultTopic(scope: ArmScope, vaultName: string): string {
  return `/subscriptions/${scope.subscriptionId}/resourceGroups/${scope.resourceGroup}/providers/Microsoft.KeyVault/vaults/${vaultName}`;
}

export function keyVaultEventData(e: KeyVaultEvent): KeyVaultEventData {
  const collection = e.objectType === 'Secret' ? 'secrets' : 'certificates';
  return {
    Id: `${e.vaultUrl.replace(/\/+$/, '')}/${collection}/${e.objectName}/${e.version}`,
    VaultName: e.vaultName,
    ObjectType: e.objectType,
    ObjectName: e.objectName,
    Version: e.version,
    NBF: e.nbf ?? null,
    EXP: e.exp ?? null,
  };
}

/** Event Grid timestamps carry 7 fractional digits (.NET ticks); we pad milliseconds. */
export function eventTime(nowMs: number): string {
  return new Date(nowMs).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
}

/** The same event in both schemas, sharing one id (an event delivered to two subscriptions keeps its id). */
export function toEventGridEvent(e: KeyVaultEvent, scope: ArmScope, id: string, nowMs: number): EventGridEvent<KeyVaultEventData> {
  return {
    id,
    topic: vaultTopic(scope, e.vaultName),
    subject: e.objectName,
    eventType: e.type,
    eventTime: eventTime(nowMs),
    data: keyVaultEventData(e),
    dataVersion: '1',
    metadataVersion: '1',
  };
}

export function toCloudEvent(e: KeyVaultEvent, scope: ArmScope, id: string, nowMs: number): CloudEvent<KeyVaultEventData> {
  return {
    id,
    source: vaultTopic(scope, e.vaultName),
    specversion: '1.0',
    type: e.type,
    subject: e.objectName,
    time: eventTime(nowMs),
    data: keyVaultEventData(e),
  };
}

export interface ValidationEventData {
  validationCode: string;
  validationUrl?: string;
}

/** `Microsoft.EventGrid.SubscriptionValidationEvent` for the Event Grid schema handshake. */
export function subscriptionValidationEvent(topic: string, validationCode: string, nowMs: number): EventGridEvent<ValidationEventData> {
  return {
    id: randomUUID(),
    topic,
    subject: '',
    eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
    eventTime: eventTime(nowMs),
    data: { validationCode },
    dataVersion: '2',
    metadataVersion: '1',
  };
}
