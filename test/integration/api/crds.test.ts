/**
 * The generated CRDs on the real kube-apiserver: they install, the server applies their defaults,
 * runs every CEL rule with the same message as parseKeyVaultSync, shows the printer columns and
 * `kubectl explain` descriptions, serves the status subresource, and accepts a SecretProviderClass
 * migrated by changing apiVersion and kind.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MSG, namingCulprit } from '../../../src/api/cel-rules.ts';
import { GROUP, VERSION } from '../../../src/api/crd.ts';
import { LIMITS } from '../../../src/api/keyvaultsync-schema.ts';
import { installCrds } from '../../../src/api/install.ts';
import { parseKeyVaultIdentity, parseKeyVaultSync } from '../../../src/api/parse.ts';
import {
  designExampleSpec,
  KEY_VAULT_IDENTITY_RULE_CASES,
  KEY_VAULT_SYNC_RULE_CASES,
  keyVaultIdentity,
  keyVaultIdentitySpec,
  keyVaultSync,
  migrate,
  secretProviderClass,
} from '../../../src/api/testing/fixtures.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig, statusOf } from '../support/kube.ts';

const run = promisify(execFile);
type Obj = Record<string, unknown> & { metadata?: Record<string, unknown>; spec?: Record<string, unknown>; status?: Record<string, unknown> };

describe('kvsync CRDs on the real apiserver', () => {
  const kc = kubeConfig();
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const suffix = Math.random().toString(36).slice(2, 8);
  const identityNames: string[] = [];
  let namespace = '';

  const kubectl = async (...args: string[]): Promise<string> =>
    (await run(join(inject('kubeBinDir'), 'kubectl'), ['--kubeconfig', inject('kubeconfig'), ...args], { timeout: 30_000 })).stdout;

  const createKvs = (obj: Record<string, unknown>, name: string): Promise<Obj> => {
    const body = { ...obj, metadata: { name, namespace } };
    // Strict: an unknown field (e.g. a SecretProviderClass field the schema lacks) fails instead of being pruned.
    return custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'keyvaultsyncs', body, fieldValidation: 'Strict' }) as Promise<Obj>;
  };
  const getKvs = (name: string): Promise<Obj> => custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'keyvaultsyncs', name }) as Promise<Obj>;
  const createKvid = (spec: Record<string, unknown>, base: string): Promise<Obj> => {
    const name = `${base}-${suffix}`;
    identityNames.push(name);
    return custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultidentities', body: keyVaultIdentity(spec, name), fieldValidation: 'Strict' }) as Promise<Obj>;
  };
  /** The apiserver's 422 message for a rejected create. */
  const rejection = async (p: Promise<unknown>, code = 422): Promise<string> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'the apiserver should have rejected the object').toBeDefined();
    expect(statusOf(err)).toBe(code);
    // The Status message, unescaped (the ApiException message carries the raw JSON body).
    const body = (err as k8s.ApiException<unknown>).body;
    const status = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string };
    return status.message ?? '';
  };

  beforeAll(async () => {
    // Other test files may apply the same CRDs concurrently: server-side apply of identical content is a no-op.
    await installCrds(kc, { timeoutMs: 60_000 });
    namespace = await createTestNamespace(kc, 'api-crds');
  });

  afterAll(async () => {
    // The CRDs stay: other test files (the controller's) use them in the same run.
    for (const name of identityNames) {
      await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'keyvaultidentities', name }).catch(() => undefined);
    }
    if (namespace !== '') await deleteTestNamespace(kc, namespace);
  });

  it('accepts the documented example and applies the schema defaults on the server', async () => {
    const spec = designExampleSpec();
    delete spec.refreshInterval;
    const created = await createKvs(keyVaultSync(spec), 'design-example');
    expect(created.spec).toMatchObject({
      refreshInterval: '1h',
      objects: [
        { name: 'nginx', type: 'certificate', encoding: 'utf-8', format: 'pem', optional: false },
        { name: 'db-password', type: 'secret', alias: 'password', encoding: 'utf-8', format: 'pem', optional: false },
      ],
      secretObjects: [
        { secretName: 'shop-tls', type: 'kubernetes.io/tls', creationPolicy: 'Owner' },
        { secretName: 'shop-db', type: 'Opaque', creationPolicy: 'Owner' },
      ],
    });
    // What the server stored parses to the same resolved spec as what the user wrote.
    const fromServer = parseKeyVaultSync({ ...created, metadata: { name: 'example', namespace: 'shop' } });
    const fromFile = parseKeyVaultSync(keyVaultSync(spec));
    expect(fromServer.ok && fromFile.ok).toBe(true);
    if (fromServer.ok && fromFile.ok) expect(fromServer.value).toEqual({ ...fromFile.value, generation: undefined });
  });

  it('defaults servicePrincipal keys, object type and secret type', async () => {
    const created = await createKvs(
      keyVaultSync({
        vault: { name: 'gebakv', tenantID: '00000000-0000-0000-0000-000000000000' },
        identity: { servicePrincipal: { secretRef: { name: 'kv-creds' } } },
        objects: [{ name: 'a' }],
        secretObjects: [{ secretName: 'a', data: [{ objectName: 'a' }] }],
      }),
      'defaults',
    );
    expect(created.spec).toMatchObject({
      identity: { servicePrincipal: { secretRef: { name: 'kv-creds', clientIDKey: 'clientid', clientSecretKey: 'clientsecret' } } },
      objects: [{ name: 'a', type: 'secret' }],
      secretObjects: [{ secretName: 'a', type: 'Opaque', creationPolicy: 'Owner' }],
    });
  });

  for (const c of KEY_VAULT_SYNC_RULE_CASES) {
    it(`CEL ${c.rule}: the apiserver and parseKeyVaultSync both reject with "${c.message}"`, async () => {
      const message = await rejection(createKvs(keyVaultSync(c.spec), `rule-${c.rule}`));
      expect(message).toContain(`${c.path}: Invalid value`);
      expect(message).toContain(c.message);
      const parsed = parseKeyVaultSync(keyVaultSync(c.spec));
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.error.issues.every((i) => i.message.startsWith(c.message))).toBe(true);
    });
  }

  /** A spec at every list bound, with the longest names, every reference valid. */
  const specAtBounds = (): Record<string, unknown> => {
    const spec = designExampleSpec();
    // The first and the last object are certificates (TLS and ConfigMap sources), the rest secrets.
    spec.objects = Array.from({ length: LIMITS.objects }, (_, i) => ({
      name: `object-${i}`.padEnd(100, 'x'),
      alias: `alias-${i}`.padEnd(120, 'y'),
      type: i === 0 || i === LIMITS.objects - 1 ? 'certificate' : 'secret',
    }));
    const aliases = (spec.objects as { alias: string }[]).map((o) => o.alias);
    spec.secretObjects = Array.from({ length: LIMITS.secretObjects }, (_, s) => ({
      secretName: `secret-${s}`,
      type: s === 0 ? 'kubernetes.io/tls' : 'Opaque',
      data: Array.from({ length: LIMITS.dataEntries }, (_, d) => ({ objectName: aliases[s === 0 ? 0 : (s * LIMITS.dataEntries + d) % LIMITS.objects]!, key: `key-${d}` })),
    }));
    (spec.secretObjects as { data: unknown[] }[])[0]!.data = [{ objectName: aliases[0]! }];
    // Each ConfigMap entry names the last object, so each search runs through the whole object list.
    spec.configMapObjects = Array.from({ length: LIMITS.configMapObjects }, (_, c) => ({
      configMapName: `public-${c}`,
      data: Array.from({ length: LIMITS.dataEntries }, (_, d) => ({ objectName: aliases[LIMITS.objects - 1]!, key: `key-${d}` })),
    }));
    return spec;
  };

  it('accepts a spec at every list bound (the CEL rules stay inside the runtime cost budget)', async () => {
    const spec = specAtBounds();
    const created = await createKvs(keyVaultSync(spec), 'at-the-bounds');
    expect((created.spec?.objects as unknown[]).length).toBe(LIMITS.objects);
    expect(parseKeyVaultSync(keyVaultSync(spec)).ok).toBe(true);
  });

  it('names the wrong objectName when refusing it, in the apiserver and in parseKeyVaultSync', async () => {
    const spec = designExampleSpec();
    (spec.secretObjects as { data: unknown[] }[])[1]!.data = [{ objectName: 'password', key: 'A' }, { objectName: 'pasword', key: 'B' }];
    const expected = namingCulprit(MSG.secretRefsExist, 'pasword');
    expect(await rejection(createKvs(keyVaultSync(spec), 'wrong-object-name'))).toContain(expected);
    const parsed = parseKeyVaultSync(keyVaultSync(spec));
    expect(!parsed.ok && parsed.error.issues).toEqual([{ path: 'spec.secretObjects[1].data[1].objectName', message: expected }]);
  });

  it('names the wrong objectName also when it is the last entry of a spec at every list bound (the message stays inside the runtime cost budget)', async () => {
    const spec = specAtBounds();
    // Every other reference names the last object, so each search runs through the whole object list.
    const objects = spec.objects as { alias: string }[];
    const secretObjects = spec.secretObjects as { data: { objectName: string }[] }[];
    for (const s of secretObjects.slice(1)) for (const d of s.data) d.objectName = objects[LIMITS.objects - 1]!.alias;
    const wrong = 'no-such-object'.padEnd(127, 'z');
    secretObjects[LIMITS.secretObjects - 1]!.data[LIMITS.dataEntries - 1]!.objectName = wrong;
    expect(await rejection(createKvs(keyVaultSync(spec), 'wrong-name-at-bounds'))).toContain(namingCulprit(MSG.secretRefsExist, wrong));
  });

  it('names the objectName a ConfigMap must not take, in the apiserver and in parseKeyVaultSync', async () => {
    const spec = designExampleSpec();
    spec.configMapObjects = [{ configMapName: 'public', data: [{ objectName: 'nginx', key: 'ca.crt' }, { objectName: 'password', key: 'db' }] }];
    const expected = namingCulprit(MSG.configMapRefs, 'password');
    expect(await rejection(createKvs(keyVaultSync(spec), 'secret-into-configmap'))).toContain(expected);
    const parsed = parseKeyVaultSync(keyVaultSync(spec));
    expect(!parsed.ok && parsed.error.issues).toEqual([{ path: 'spec.configMapObjects[0].data[1].objectName', message: expected }]);
  });

  it('names the wrong ConfigMap objectName also when it is the last entry of a spec at every list bound', async () => {
    const spec = specAtBounds();
    const configMapObjects = spec.configMapObjects as { data: { objectName: string }[] }[];
    const wrong = 'no-such-object'.padEnd(127, 'z');
    configMapObjects[LIMITS.configMapObjects - 1]!.data[LIMITS.dataEntries - 1]!.objectName = wrong;
    expect(await rejection(createKvs(keyVaultSync(spec), 'wrong-configmap-name-at-bounds'))).toContain(namingCulprit(MSG.configMapRefs, wrong));
  });

  it('rejects unknown fields under strict field validation (what kubectl apply does)', async () => {
    const spec = { ...designExampleSpec(), secretObject: [] };
    // Strict field validation answers 400 BadRequest, not 422.
    expect(await rejection(createKvs(keyVaultSync(spec), 'unknown-field'), 400)).toContain('unknown field "spec.secretObject"');
  });

  it('rejects schema violations (enum, pattern, bounds) with the field path', async () => {
    const spec = designExampleSpec();
    (spec.objects as Record<string, unknown>[])[0]!.type = 'password';
    spec.vault = { name: 'x', tenantID: '00000000-0000-0000-0000-000000000000' };
    const message = await rejection(createKvs(keyVaultSync(spec), 'schema'));
    expect(message).toContain('spec.objects[0].type: Unsupported value: "password"');
    expect(message).toContain('spec.vault.name');
  });

  it('accepts a SecretProviderClass migrated by changing apiVersion and kind', async () => {
    const spc = migrate(secretProviderClass());
    const created = await createKvs(spc, 'migrated-spc');
    expect(created.spec).toMatchObject({ provider: 'azure', parameters: (secretProviderClass().spec as { parameters: unknown }).parameters });
    const parsed = parseKeyVaultSync(created);
    expect(parsed.ok && parsed.value.vault.url).toBe('https://kvname.vault.azure.net');
  });

  it('serves the status subresource and the printer columns', async () => {
    await createKvs(keyVaultSync(designExampleSpec()), 'with-status');
    const before = await getKvs('with-status');
    const now = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    const status = {
      observedGeneration: 1,
      lastSyncTime: now,
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Synced', message: 'all objects synced', lastTransitionTime: now, observedGeneration: 1 },
        { type: 'Synced', status: 'True', reason: 'Synced', message: '2 objects', lastTransitionTime: now },
      ],
      objects: [{ name: 'nginx', version: 'abc', contentType: 'application/x-pkcs12', expiresAt: now, updated: now }],
      secrets: [{ name: 'shop-tls', dataMAC: 'hmac-sha256:0123' }],
    };
    const updated = (await custom.replaceNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: 'keyvaultsyncs',
      name: 'with-status',
      body: { ...before, status, spec: { ...before.spec, refreshInterval: '2m' } },
    })) as Obj;
    expect(updated.status).toEqual(status);
    // The status endpoint ignores spec changes; the generation does not move.
    expect(updated.spec?.refreshInterval).toBe('5m');
    expect(updated.metadata?.generation).toBe(before.metadata?.generation);

    const table = await kubectl('get', 'keyvaultsyncs', 'with-status', '-n', namespace, '-o', 'wide');
    const [header, row] = table.trim().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['NAME', 'VAULT', 'READY', 'REASON', 'LAST SYNC', 'DELETION', 'AGE']);
    const cells = row?.split(/\s{2,}/) ?? [];
    expect(cells.slice(0, 4)).toEqual(['with-status', 'gebakv', 'True', 'Synced']);
    expect(cells[5]).toBe('Delete');
    // The short name works too.
    expect(await kubectl('get', 'kvs', '-n', namespace, '-o', 'name')).toContain('keyvaultsync.kvsync.dev/with-status');
  });

  it('publishes descriptions that kubectl explain shows', async () => {
    const text = await pollUntil(
      async () => {
        const out = await kubectl('explain', 'keyvaultsyncs.spec.identity.workloadIdentity.serviceAccountName');
        return out.includes('api://AzureADTokenExchange') ? out : undefined;
      },
      { timeoutMs: 30_000, description: 'kubectl explain to show the field description' },
    );
    expect(text).toContain('FIELD: serviceAccountName <string>');
    expect(await kubectl('explain', 'keyvaultidentities.spec.allowedVaults')).toContain('Vaults this identity may be used for.');
  });

  it('accepts a valid KeyVaultIdentity (cluster-scoped) and rejects each rule violation', async () => {
    const created = await createKvid(keyVaultIdentitySpec(), 'shared-kv-reader');
    expect(created.metadata?.namespace).toBeUndefined();
    expect(parseKeyVaultIdentity(created).ok).toBe(true);
    for (const c of KEY_VAULT_IDENTITY_RULE_CASES) {
      const message = await rejection(createKvid(c.spec, `rule-${c.rule}`));
      expect(message).toContain(`${c.path}: Invalid value`);
      expect(message).toContain(c.message);
    }
    const bad = await rejection(createKvid({ ...keyVaultIdentitySpec(), clientID: 'not-a-guid', allowedVaults: [] }, 'bad'));
    expect(bad).toContain('spec.clientID');
    expect(bad).toContain('spec.allowedVaults');
  });
});
