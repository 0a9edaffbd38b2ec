/**
 * Versions made in one second, listed as Key Vault lists them (by version id, not by creation): the
 * current version a KeyVaultSync gets is the one Key Vault says is current, never the one the listing
 * happens to put last. The emulator's clock is held inside one second while the versions are made, and
 * versions are added until the newest is not the last listed, so the listing alone would pick wrongly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyVaultSync } from '../../../src/api/parse.ts';
import type { ResolvedKeyVaultSync } from '../../../src/api/resolved.ts';
import { KeyVaultAccess } from '../../../src/keyvault/access.ts';
import { loadAzureEnvironment, type AzureEnvironment } from '../../../src/keyvault/azure-environment.ts';
import { fetchObjects } from '../../../src/keyvault/fetch.ts';
import { KeyVaultPipeline } from '../../../src/keyvault/pipeline.ts';
import { clientsFor, credentialFor } from '../emulator/kv-support.ts';
import { startWorld, syncSpec, type TestWorld } from '../controller/support.ts';
import { kubeConfig } from '../support/kube.ts';

let world: TestWorld;
let env: AzureEnvironment;
const access = new KeyVaultAccess();

beforeAll(async () => {
  world = await startWorld();
  env = await loadAzureEnvironment({ endpointsFile: world.endpointsFile, env: {} });
});

afterAll(async () => {
  env?.agent?.destroy();
  await world?.emu.stop();
});

function resolved(objects: Record<string, unknown>[]): ResolvedKeyVaultSync {
  const spec = syncSpec(world, { objects, secretObjects: [{ secretName: 'out', data: objects.map((o) => ({ objectName: o.name, key: String(o.name) })) }] });
  const r = parseKeyVaultSync({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name: 'order', namespace: 'ns' }, spec: { ...spec, identity: { servicePrincipal: { secretRef: { name: 'kv-creds' } } } } }, env);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

describe('version order', () => {
  it('the emulator lists versions by id; versionHistory starts from the current version, not the last listed', async () => {
    const c = clientsFor(world.emu);
    const name = 'same-second';
    const made: { version: string; value: string }[] = [];
    // The emulator's clock is set back to the start of one second before each version is made.
    const clock = world.emu.clock;
    const second = Math.ceil(clock.nowMs() / 1000) * 1000;
    for (let i = 0; i < 20; i++) {
      clock.shift(second - clock.nowMs());
      const s = await c.secrets.setSecret(name, `value-${i}`);
      made.push({ version: s.properties.version ?? '', value: `value-${i}` });
      const newest = made.at(-1)?.version ?? '';
      // Enough once the newest is not the highest id (the listing would put another one last).
      if (made.length >= 3 && made.some((m) => m.version > newest)) break;
    }
    world.emu.clock.reset();
    const listed: { version: string; created: number }[] = [];
    for await (const p of c.secrets.listPropertiesOfSecretVersions(name)) listed.push({ version: p.version ?? '', created: p.createdOn?.getTime() ?? 0 });
    expect(new Set(listed.map((l) => l.created)).size).toBe(1);
    expect(listed.map((l) => l.version)).toEqual(made.map((m) => m.version).sort());
    const newest = made.at(-1);
    expect(listed.at(-1)?.version).not.toBe(newest?.version);

    const sync = resolved([{ name, type: 'secret', versionHistory: 3 }]);
    const credential = credentialFor(world.emu);
    const { fetched, failures } = await fetchObjects(sync, credential, env, { access });
    expect(failures).toEqual([]);
    const current = fetched.find((f) => f.historyIndex === 0);
    expect(current?.version).toBe(newest?.version);
    expect(current?.material.kind === 'secret' ? current.material.value : undefined).toBe(newest?.value);
    // Older ones are other versions of the same second (their order within it is unknowable).
    const older = fetched.filter((f) => f.historyIndex > 0).map((f) => f.version);
    expect(older).toHaveLength(2);
    expect(older).not.toContain(newest?.version);

    // Through the shared pipeline (cached reads and listing) the answer is the same.
    const pipeline = new KeyVaultPipeline(kubeConfig(), env);
    try {
      const shared = await pipeline.fetchShared(sync, { credential, identityKey: 'admin' });
      expect(shared.failures).toEqual([]);
      expect(shared.fetched.find((f) => f.historyIndex === 0)?.version).toBe(newest?.version);
    } finally {
      pipeline.close();
    }
  });

  it('a read carries when Key Vault answered it, on Key Vault\'s clock (its Date header), for comparing with `updated`', async () => {
    const name = 'answer-date';
    await clientsFor(world.emu).secrets.setSecret(name, 'v');
    const sync = resolved([{ name, type: 'secret' }]);
    world.emu.clock.shift(-600_000);
    try {
      const { fetched, failures } = await fetchObjects(sync, credentialFor(world.emu), env, { access });
      expect(failures).toEqual([]);
      const answered = fetched[0]?.answeredOn?.getTime() ?? Number.NaN;
      // Ten minutes behind this host's clock, as the emulator's is (the header has whole seconds).
      expect(Math.abs(answered - (Date.now() - 600_000))).toBeLessThan(60_000);
    } finally {
      world.emu.clock.reset();
    }
  });
});
