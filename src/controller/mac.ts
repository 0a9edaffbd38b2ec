/**
 * Per-Secret data MAC for status: HMAC-SHA256 over the Secret's data in sorted key order, keyed with
 * a random key kept in a Secret in the operator's namespace. Lets a person (or a test) see that data
 * changed without the status ever carrying a plain hash, which would allow guessing low-entropy values.
 */
import { createHmac, randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { ControllerError } from './errors.ts';

export const MAC_KEY_SECRET = 'kvsync-mac-key';
const MAC_KEY_FIELD = 'key';

/**
 * `hmac-sha256:<hex>` over length-prefixed (key, value) pairs in byte order of the keys; length
 * prefixes make the encoding unambiguous (no two data maps share an input).
 */
export function dataMac(macKey: Buffer, data: Readonly<Record<string, Buffer | string>>): string {
  const hmac = createHmac('sha256', macKey);
  const keys = Object.keys(data).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const len = Buffer.alloc(8);
  for (const key of keys) {
    const k = Buffer.from(key, 'utf8');
    const raw = data[key];
    const v = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : (raw ?? Buffer.alloc(0));
    len.writeBigUInt64BE(BigInt(k.length));
    hmac.update(len).update(k);
    len.writeBigUInt64BE(BigInt(v.length));
    hmac.update(len).update(v);
  }
  return `hmac-sha256:${hmac.digest('hex')}`;
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
