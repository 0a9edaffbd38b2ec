/**
 * A process that uses the Azure SDK's SecretClient as kvsync does, then loses Entra ID until its token
 * has expired: the SDK's background token refresh gives up with nothing awaiting it. Run with `guarded`,
 * kvsync's guard is installed. Prints `survived` if the process is still alive once the refresh gave up (or 50 s on).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from '../../../src/emulator/server.ts';
import { guardTokenRefresh } from '../../../src/keyvault/token-refresh-guard.ts';
import { admin, clientsFor } from '../../integration/emulator/kv-support.ts';

const TOKEN_SECONDS = 3;

let refreshGaveUp = (): void => undefined;
const gaveUp = new Promise<void>((resolve) => (refreshGaveUp = resolve));
if (process.argv[2] === 'guarded') {
  guardTokenRefresh({
    warn: (_obj, msg) => {
      console.log(`warned: ${msg}`);
      refreshGaveUp();
    },
  });
}
const emu = await startEmulator({
  stateDir: await mkdtemp(join(tmpdir(), 'kvsync-token-guard-')),
  log: () => undefined,
  configDocument: { vaults: [{ name: 'guardkv', secrets: [{ name: 's', value: 'v' }] }] },
});
await admin(emu, 'PUT', '/token-lifetime', { lifetimeSeconds: TOKEN_SECONDS });
const { secrets } = clientsFor(emu, undefined, 'guardkv');
// The first request waits for a token; the token is inside the SDK's two-minute refresh window at once.
await secrets.getSecret('s');
await admin(emu, 'POST', '/faults', { operation: 'token', status: 503, retryAfterSeconds: null, durationSeconds: 600 });
// Served with the still-valid token, while the SDK starts a background refresh that will never succeed.
await secrets.getSecret('s');
// Until the background refresh has given up: the guard tells when it did; unguarded, the process ends
// then. The bound is far past the token's end, so a busy machine only makes the wait longer.
let bound: NodeJS.Timeout | undefined;
await Promise.race([gaveUp.then(() => new Promise((r) => setTimeout(r, 1000))), new Promise((r) => (bound = setTimeout(r, 50_000)))]);
clearTimeout(bound);
console.log('survived');
await emu.stop();
