/**
 * Per-Secret data MAC for status: HMAC-SHA256 over where the data lives (namespace, Secret name,
 * Secret type) and the data in sorted key order, keyed with a random key kept in a Secret in the
 * operator's namespace. Lets a person (or a test) see that data changed without the status ever
 * carrying a plain hash, which would allow guessing low-entropy values. Binding the place means
 * that a tenant who makes kvsync write a guess into a Secret of their own, and reads its MAC, learns
 * nothing about another Secret's MAC: the same data elsewhere has an unrelated MAC.
 */
import { createHmac, createSecretKey, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Hmac, KeyObject } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { ControllerError } from './errors.ts';

export const MAC_KEY_SECRET = 'kvsync-mac-key';
const MAC_KEY_FIELD = 'key';

/** The Secret a MAC is bound to. */
export interface MacSubject {
  namespace: string;
  /** The Secret's name. */
  name: string;
  /** The Secret's type, e.g. `Opaque` or `kubernetes.io/tls`. */
  type: string;
}

type MacData = Readonly<Record<string, Buffer | string>>;

/** Current MACs: bound to the Secret's namespace, name and type. */
const PREFIX = 'hmac-sha256-v2:';
/** MACs of releases before the binding (data only); still recognised, never written. */
const LEGACY_PREFIX = 'hmac-sha256:';
/** Separates the domain of these MACs from the rollout annotation's, which shares the key. */
const DOMAIN = 'kvsync-secret-data-v2';

/** The key as a KeyObject, made once per key: an HMAC keyed with a Buffer imports the key again each time (about 5× the cost of a short MAC). */
const keyObjects = new WeakMap<Buffer, KeyObject>();

/** An HMAC-SHA256 keyed with `macKey`. */
export function macHmac(macKey: Buffer): Hmac {
  let key = keyObjects.get(macKey);
  if (key === undefined) keyObjects.set(macKey, (key = createSecretKey(macKey)));
  return createHmac('sha256', key);
}

/** The length prefix of each field; `hmac.update` copies what it is given, so one buffer serves every call. */
const lengthPrefix = Buffer.alloc(8);

function update(hmac: Hmac, field: Buffer | string): void {
  const bytes = typeof field === 'string' ? Buffer.from(field, 'utf8') : field;
  lengthPrefix.writeBigUInt64BE(BigInt(bytes.length));
  hmac.update(lengthPrefix).update(bytes);
}

/** Length-prefixed (key, value) pairs in byte order of the keys: no two data maps share an input. */
function updateData(hmac: Hmac, data: MacData): void {
  const keys = Object.keys(data).map((key) => ({ key, bytes: Buffer.from(key, 'utf8') }));
  keys.sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  for (const { key, bytes } of keys) {
    update(hmac, bytes);
    update(hmac, data[key] ?? Buffer.alloc(0));
  }
}

/**
 * `hmac-sha256-v2:<hex>` over the length-prefixed namespace, Secret name and type, then the data's
 * length-prefixed (key, value) pairs in byte order of the keys.
 */
export function dataMac(macKey: Buffer, subject: MacSubject, data: MacData): string {
  const hmac = macHmac(macKey);
  update(hmac, DOMAIN);
  update(hmac, subject.namespace);
  update(hmac, subject.name);
  update(hmac, subject.type);
  updateData(hmac, data);
  return `${PREFIX}${hmac.digest('hex')}`;
}

/** The data-only MAC of earlier releases, kept only to recognise MACs they wrote into status. */
function legacyDataMac(macKey: Buffer, data: MacData): string {
  const hmac = macHmac(macKey);
  updateData(hmac, data);
  return `${LEGACY_PREFIX}${hmac.digest('hex')}`;
}

/**
 * Whether `recorded` (a status MAC) is the MAC of `data` in `subject`. A MAC written by an earlier
 * release (data only) is checked the way it was made, so that after an upgrade the first sync sees
 * unchanged data as unchanged (no rollouts, no drift repair) and rewrites it in the current form.
 * `current`, when the caller already has it, is `dataMac(macKey, subject, data)`: not computed again.
 */
export function macMatches(macKey: Buffer, recorded: string, subject: MacSubject, data: MacData, current?: string): boolean {
  const expected = recorded.startsWith(PREFIX) ? (current ?? dataMac(macKey, subject, data)) : recorded.startsWith(LEGACY_PREFIX) ? legacyDataMac(macKey, data) : undefined;
  if (expected === undefined || expected.length !== recorded.length) return false;
  return timingSafeEqual(Buffer.from(expected), Buffer.from(recorded));
}

/**
 * Reads the MAC key Secret in `namespace`, creating it with 32 random bytes on first start. Two
 * replicas starting together both try to create; the loser of the race reads the winner's key.
 * @throws ControllerError when the namespace does not exist; the apiserver's error otherwise.
 */
export async function loadOrCreateMacKey(core: k8s.CoreV1Api, namespace: string): Promise<Buffer> {
  const read = async (): Promise<Buffer | undefined> => {
    try {
      const secret = await core.readNamespacedSecret({ name: MAC_KEY_SECRET, namespace });
      const b64 = secret.data?.[MAC_KEY_FIELD];
      return b64 === undefined ? undefined : Buffer.from(b64, 'base64');
    } catch (err) {
      if (err instanceof k8s.ApiException && err.code === 404) return undefined;
      throw err;
    }
  };
  const existing = await read();
  if (existing !== undefined && existing.length >= 32) return existing;
  const key = randomBytes(32);
  try {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: MAC_KEY_SECRET, labels: { 'app.kubernetes.io/managed-by': 'kvsync', 'app.kubernetes.io/component': 'mac-key' } },
        type: 'Opaque',
        data: { [MAC_KEY_FIELD]: key.toString('base64') },
      },
    });
    return key;
  } catch (err) {
    if (err instanceof k8s.ApiException && err.code === 409) {
      const winner = await read();
      if (winner !== undefined) return winner;
    }
    if (err instanceof k8s.ApiException && err.code === 404) {
      throw new ControllerError('InternalError', `the operator namespace "${namespace}" does not exist; create it or pass --namespace`, { cause: err });
    }
    throw err;
  }
}
