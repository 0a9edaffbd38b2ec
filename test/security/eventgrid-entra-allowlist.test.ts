/**
 * Threat: with Event Grid's Entra authentication, any application of the tenant that can get a token
 * for the endpoint's audience (every app can, for an audience it knows) delivers "events" and makes
 * kvsync read vaults on its schedule. Defence: Entra mode needs an explicit list of the applications
 * allowed to deliver (`--eventgrid-client-id`); the controller refuses to start without it, and a
 * token of any other application is refused. Tokens here are real ones from the emulator's Entra ID.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/server.ts';
import { EntraTokenAuthenticator } from '../../src/eventgrid/auth.ts';
import { EventGridConfigError } from '../../src/eventgrid/errors.ts';
import { eventGridOptions } from '../../src/eventgrid/flags.ts';
import { loadAzureEnvironment, type AzureEnvironment } from '../../src/keyvault/azure-environment.ts';
import { adminPrincipal, bearer } from '../integration/emulator/kv-support.ts';
import { runKvsync } from './channels.ts';

const AUDIENCE = 'api://kvsync-eventgrid-allowlist';
const NONE = { authorization: undefined, sasKey: undefined, queryCode: undefined };
let emu: RunningEmulator;
let env: AzureEnvironment;

beforeAll(async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'kvsync-sec-eg-'));
  emu = await startEmulator({ stateDir, log: () => undefined, configDocument: { vaults: [{ name: 'egkv' }], servicePrincipals: [{ name: 'eventgrid', secrets: ['eg-secret-0123456789'] }, { name: 'any-other-app', secrets: ['other-secret-0123456789'] }] } });
  env = await loadAzureEnvironment({ endpointsFile: join(stateDir, 'endpoints.json'), env: {} });
});

afterAll(async () => {
  env?.agent?.destroy();
  await emu?.stop();
});

function principal(name: string): { clientId: string; secret: string } {
  const p = emu.config.servicePrincipals.find((x) => x.name === name);
  if (p === undefined) throw new Error(`no principal ${name}`);
  return { clientId: p.clientId, secret: p.secrets?.[0] ?? '' };
}

describe('Event Grid Entra mode trusts only the applications listed', () => {
  it('the flags and the controller refuse Entra mode without a client allow-list', async () => {
    expect(() => eventGridOptions({ 'eventgrid-addr': '127.0.0.1:0', 'eventgrid-audience': AUDIENCE })).toThrow(/--eventgrid-audience needs --eventgrid-client-id/);
    const r = await runKvsync(['controller', '--eventgrid-addr', '127.0.0.1:0', '--eventgrid-audience', AUDIENCE, '--kubeconfig', '/nonexistent']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--eventgrid-audience needs --eventgrid-client-id');
    expect(() => new EntraTokenAuthenticator({ authorityHost: emu.endpoints.authorityHost, tenantId: emu.endpoints.tenantID, audiences: [AUDIENCE], allowedClientIds: [], agent: env.agent })).toThrow(EventGridConfigError);
  });

  it("accepts the listed application's token and refuses another application of the same tenant", async () => {
    const eventGrid = principal('eventgrid');
    const auth = new EntraTokenAuthenticator({ authorityHost: emu.endpoints.authorityHost, tenantId: emu.endpoints.tenantID, audiences: [AUDIENCE], allowedClientIds: [eventGrid.clientId], agent: env.agent });
    const listed = await bearer(emu, eventGrid, `${AUDIENCE}/.default`);
    expect(await auth.authenticate({ ...NONE, authorization: `Bearer ${listed}` })).toEqual({ ok: true, method: 'entraToken' });
    for (const other of [principal('any-other-app'), adminPrincipal(emu)]) {
      const token = await bearer(emu, other, `${AUDIENCE}/.default`);
      expect(await auth.authenticate({ ...NONE, authorization: `Bearer ${token}` })).toEqual({ ok: false, why: 'token of an application that is not allowed' });
    }
  });
});
