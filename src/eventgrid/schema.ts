/**
 * What Event Grid POSTs to a webhook, parsed from an untrusted body:
 * - Event Grid schema: a JSON array of events (`id`, `eventType`, `subject`, `topic`, `data`, …); a batch
 *   may hold several. The subscription validation handshake is such an array holding ONE
 *   `Microsoft.EventGrid.SubscriptionValidationEvent` whose `data` has `validationCode` (and, from API
 *   version 2018-05-01-preview on, `validationUrl` for manual validation).
 * - CloudEvents 1.0, structured mode: one event (`application/cloudevents+json`: `specversion: "1.0"`,
 *   `id`, `source`, `type`, `subject`, `data`) or a batch (`application/cloudevents-batch+json`, an array).
 *   Its handshake is an HTTP OPTIONS request (see handshake.ts), never a body.
 * - Key Vault events carry `data` = `{Id, VaultName, ObjectType, ObjectName, Version, NBF, EXP}`
 *   (PascalCase as Azure sends it; `Id` is the versioned object URL, `subject` the object name and
 *   `topic`/`source` the vault's ARM resource id).
 */
import { EventGridRequestError } from './errors.ts';

export const SUBSCRIPTION_VALIDATION_EVENT = 'Microsoft.EventGrid.SubscriptionValidationEvent';
export const SECRET_NEW_VERSION_CREATED = 'Microsoft.KeyVault.SecretNewVersionCreated';
export const CERTIFICATE_NEW_VERSION_CREATED = 'Microsoft.KeyVault.CertificateNewVersionCreated';

/** Every event type Key Vault publishes for secrets and certificates (the others are acknowledged and ignored). */
export const KEY_VAULT_EVENT_TYPES: readonly string[] = [
  SECRET_NEW_VERSION_CREATED,
  CERTIFICATE_NEW_VERSION_CREATED,
  'Microsoft.KeyVault.SecretNearExpiry',
  'Microsoft.KeyVault.SecretExpired',
  'Microsoft.KeyVault.CertificateNearExpiry',
  'Microsoft.KeyVault.CertificateExpired',
  'Microsoft.KeyVault.KeyNewVersionCreated',
  'Microsoft.KeyVault.KeyNearExpiry',
  'Microsoft.KeyVault.KeyExpired',
  'Microsoft.KeyVault.VaultAccessPolicyChanged',
];

export type NewVersionEventType = typeof SECRET_NEW_VERSION_CREATED | typeof CERTIFICATE_NEW_VERSION_CREATED;

/** One event of either schema, reduced to what the endpoint looks at. */
export interface ReceivedEvent {
  id: string;
  type: string;
  subject: string | undefined;
  data: unknown;
}

export type Delivery =
  | { kind: 'validation'; validationCode: string; validationUrl: string | undefined }
  | { kind: 'events'; schema: 'EventGridSchema' | 'CloudEventSchemaV1_0'; events: ReceivedEvent[] };

/** A new version of a Key Vault object, as a push refresh needs it. */
export interface KeyVaultObjectChange {
  eventId: string;
  type: NewVersionEventType;
  /** Lower-cased vault name. */
  vaultName: string;
  objectType: 'Secret' | 'Certificate';
  objectName: string;
  version: string;
  /** `https://<vault host>[:port]` taken from the event's `Id`, when it is a URL. */
  vaultUrl: string | undefined;
}

const MEDIA_TYPES = new Set(['application/json', 'application/cloudevents+json', 'application/cloudevents-batch+json']);
const VAULT_NAME = /^[0-9a-zA-Z-]{3,24}$/;
const OBJECT_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const VERSION = /^[0-9a-zA-Z]{1,64}$/;
const MAX_FIELD = 1024;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function malformed(message: string): EventGridRequestError {
  return new EventGridRequestError('MalformedRequest', message);
}

function requiredString(o: Record<string, unknown>, field: string, where: string): string {
  const v = o[field];
  if (typeof v !== 'string' || v === '' || v.length > MAX_FIELD) throw malformed(`${where}: "${field}" must be a non-empty string`);
  return v;
}

function optionalString(o: Record<string, unknown>, field: string): string | undefined {
  const v = o[field];
  return typeof v === 'string' ? v : undefined;
}

/** The media type without parameters, lower-cased; undefined when absent. */
export function mediaTypeOf(contentType: string | undefined): string | undefined {
  const t = contentType?.split(';')[0]?.trim().toLowerCase();
  return t === undefined || t === '' ? undefined : t;
}

function eventGridEvent(v: unknown, i: number): ReceivedEvent {
  if (!isRecord(v)) throw malformed(`event ${i}: must be an object`);
  return { id: requiredString(v, 'id', `event ${i}`), type: requiredString(v, 'eventType', `event ${i}`), subject: optionalString(v, 'subject'), data: v.data };
}

function cloudEvent(v: unknown, i: number): ReceivedEvent {
  if (!isRecord(v)) throw malformed(`event ${i}: must be an object`);
  if (v.specversion !== '1.0') throw malformed(`event ${i}: "specversion" must be "1.0"`);
  requiredString(v, 'source', `event ${i}`);
  return { id: requiredString(v, 'id', `event ${i}`), type: requiredString(v, 'type', `event ${i}`), subject: optionalString(v, 'subject'), data: v.data };
}

/**
 * Parses a delivery body.
 * @throws EventGridRequestError `UnsupportedMediaType` for a content type other than JSON or CloudEvents
 *   JSON; `MalformedRequest` for invalid JSON, an empty batch, an event missing `id`/type, mixed schemas,
 *   or a validation event that is not alone or has no `validationCode`.
 */
export function parseDelivery(body: string, contentType: string | undefined): Delivery {
  const media = mediaTypeOf(contentType);
  if (media !== undefined && !MEDIA_TYPES.has(media)) throw new EventGridRequestError('UnsupportedMediaType', `content type ${media} is not accepted`);
  let json: unknown;
  try {
    json = JSON.parse(body) as unknown;
  } catch {
    throw malformed('the body is not valid JSON');
  }
  if (!Array.isArray(json)) {
    if (!isRecord(json) || json.specversion === undefined) throw malformed('the body must be an array of Event Grid events or a CloudEvent');
    return { kind: 'events', schema: 'CloudEventSchemaV1_0', events: [cloudEvent(json, 0)] };
  }
  if (json.length === 0) throw malformed('the batch is empty');
  const cloud = isRecord(json[0]) && json[0].specversion !== undefined;
  const events = json.map((v: unknown, i) => {
    if (isRecord(v) && (v.specversion !== undefined) !== cloud) throw malformed('a batch must not mix Event Grid events and CloudEvents');
    return cloud ? cloudEvent(v, i) : eventGridEvent(v, i);
  });
  const validation = cloud ? undefined : events.find((e) => e.type === SUBSCRIPTION_VALIDATION_EVENT);
  if (validation === undefined) return { kind: 'events', schema: cloud ? 'CloudEventSchemaV1_0' : 'EventGridSchema', events };
  if (events.length !== 1) throw malformed('a subscription validation event must come alone');
  if (!isRecord(validation.data)) throw malformed('the subscription validation event has no data');
  const validationCode = requiredString(validation.data, 'validationCode', 'subscription validation event data');
  return { kind: 'validation', validationCode, validationUrl: optionalString(validation.data, 'validationUrl') };
}

/** Reads `field` case-insensitively (Azure sends PascalCase; SDK models use camelCase). */
function field(data: Record<string, unknown>, name: string): unknown {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(data)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

export function isNewVersionEvent(type: string): type is NewVersionEventType {
  return type === SECRET_NEW_VERSION_CREATED || type === CERTIFICATE_NEW_VERSION_CREATED;
}

/**
 * The object change a `SecretNewVersionCreated` / `CertificateNewVersionCreated` event announces.
 * @throws EventGridRequestError `MalformedRequest` when `data` lacks a valid vault name, object name or version.
 */
export function keyVaultChangeOf(e: ReceivedEvent & { type: NewVersionEventType }): KeyVaultObjectChange {
  const where = `event ${e.type}`;
  if (!isRecord(e.data)) throw malformed(`${where}: "data" must be an object`);
  const vaultName = field(e.data, 'VaultName');
  const objectName = field(e.data, 'ObjectName') ?? e.subject;
  const version = field(e.data, 'Version');
  if (typeof vaultName !== 'string' || !VAULT_NAME.test(vaultName)) throw malformed(`${where}: data.VaultName is not a vault name`);
  if (typeof objectName !== 'string' || !OBJECT_NAME.test(objectName)) throw malformed(`${where}: data.ObjectName is not an object name`);
  if (typeof version !== 'string' || !VERSION.test(version)) throw malformed(`${where}: data.Version is not an object version`);
  const id = field(e.data, 'Id');
  let vaultUrl: string | undefined;
  if (typeof id === 'string') {
    try {
      const u = new URL(id);
      if (u.protocol === 'https:') vaultUrl = u.origin;
    } catch {
      vaultUrl = undefined;
    }
  }
  return {
    eventId: e.id,
    type: e.type,
    vaultName: vaultName.toLowerCase(),
    objectType: e.type === SECRET_NEW_VERSION_CREATED ? 'Secret' : 'Certificate',
    objectName,
    version,
    vaultUrl,
  };
}
