/**
 * How the rotation scenario wires Event Grid push, when the controller has it (`--eventgrid-addr`):
 * a shared key in a file for the controller (`--eventgrid-key-file`), and an emulator subscription
 * for one vault delivering `SecretNewVersionCreated` to the controller's endpoint with that key.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../src/dev/ports.ts';
import type { BenchContext } from './context.ts';

export type EventGridPlan =
  | { available: true; controllerArgs: string[]; description: string; subscribe(vault: string): Promise<void> }
  | { available: false; reason: string };

/** The endpoint path the controller serves by default (src/eventgrid/endpoint.ts). */
const PATH = '/eventgrid';

export async function eventGridPlan(ctx: BenchContext): Promise<EventGridPlan> {
  if (!ctx.controllerFlags.has('eventgrid-addr')) return { available: false, reason: '`kvsync controller` has no --eventgrid-addr in this build' };
  if (!ctx.controllerFlags.has('eventgrid-key-file')) return { available: false, reason: '`kvsync controller` has no --eventgrid-key-file to authenticate deliveries' };
  const port = await freePort();
  const key = randomBytes(24).toString('base64url');
  const keyFile = join(ctx.workDir, 'eventgrid.key');
  await writeFile(keyFile, key, { mode: 0o600 });
  return {
    available: true,
    controllerArgs: ['--eventgrid-addr', `127.0.0.1:${port}`, '--eventgrid-key-file', keyFile],
    description: `emulator subscription (Event Grid schema, shared key) → http://127.0.0.1:${port}${PATH}`,
    subscribe: async (vault) => {
      await ctx.emulator.admin.createSubscription({
        name: 'kvsync-bench',
        endpointUrl: `http://127.0.0.1:${port}${PATH}`,
        eventDeliverySchema: 'EventGridSchema',
        includedEventTypes: ['Microsoft.KeyVault.SecretNewVersionCreated'],
        vaults: [vault],
        sharedKey: key,
      });
    },
  };
}
