/**
 * Threat: Secret templates as a way out of the KeyVaultSync. ESO's Go/Sprig template engine had
 * functions that read other namespaces' Secrets (`getSecretKey`, GHSA-77v3-r3jw-j2v2), and template
 * output that could change the Secret's type or keys. Hostile shapes tried here: functions of other
 * engines (Sprig, Helm `lookup`, `env`, `readFile`, `getSecretKey`, Handlebars blocks, loops), a
 * reference to an object another KeyVaultSync of the same identity reads (so it is in the shared
 * cache), a reference to the credentials Secret, output that looks like Secret fields, a template
 * that amplifies a value past Kubernetes' 1 MiB, and a vault value that is itself a template.
 *
 * Defence (src/api/template.ts): a logic-less language with substitution and five encodings; every
 * name must be an object of the same KeyVaultSync (checked when the spec is parsed: InvalidSpec);
 * values are data, substituted in one pass; the output is bounded before and after each encoding
 * (TemplateFailed); a template fills one declared key and nothing else.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyVaultSync } from '../../src/api/parse.ts';
import { readyCondition, startOperatorFixture, syncApi, syncSpec, type OperatorFixture } from '../integration/controller/support.ts';
import { clientsFor } from '../integration/emulator/kv-support.ts';
import { kubeConfig, statusOf } from '../integration/support/kube.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const syncs = syncApi(kc);
const PASSWORD = 'correct-horse-battery-staple';
/** A vault value that is itself template text, and one that tries to close a JSON string. */
const INJECTED = "{{ db-password }} {{ '{{' }} {{ api-token | base64 }}";
const JSON_BREAKOUT = '", "admin": true, "x": "';
let fx: OperatorFixture;

async function secretData(name: string): Promise<{ type: string | undefined; data: Record<string, string> } | undefined> {
  try {
    const s = await core.readNamespacedSecret({ namespace: fx.ns, name });
    return { type: s.type, data: Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])) };
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

function refused(name: string): Promise<{ reason: string; message: string }> {
  return readyCondition(kc, fx.ns, name, 'False');
}

async function ready(name: string): Promise<void> {
  await readyCondition(kc, fx.ns, name, 'True');
}

/** One Secret with one template over the given objects. */
function templated(template: string, objects: Record<string, unknown>[] = [{ name: 'db-password' }], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return syncSpec(fx.world, { objects, secretObjects: [{ secretName: 'out', templates: [{ key: 'config', template }], ...extra }] });
}

beforeAll(async () => {
  fx = await startOperatorFixture(kc, 'sec-tpl');
  const kv = clientsFor(fx.world.emu).secrets;
  await kv.setSecret('injected', INJECTED);
  await kv.setSecret('breakout', JSON_BREAKOUT);
  await kv.setSecret('big', 'x'.repeat(20_000));
});

afterAll(async () => {
  await fx?.stop();
});

/** Functions and blocks of other template engines; none is a kvsync template. */
const FOREIGN_SHAPES = [
  '{{ .db-password }}x{{ b64enc .db-password }}',
  '{{ db-password | b64enc }}',
  '{{ db-password | toYaml }}',
  '{{ env "HOME" }}',
  '{{ readFile "/etc/passwd" }}',
  '{{ getSecretKey "kv-creds" "kube-system" "clientsecret" }}',
  '{{ lookup "v1" "Secret" "kube-system" "kv-creds" }}',
  '{{ range $k, $v := . }}{{ $k }}{{ end }}',
  '{{ template "x" . }}',
  '{{#each objects}}{{this}}{{/each}}',
  '{{> partial }}',
  '{{ db-password }}{{ db-password | exec }}',
  '{{ db-password | base64 | hex | base64 | hex | base64 }}',
  '{{ db-password ',
  '{{ {{ db-password }} }}',
];

describe('hostile Secret templates', () => {
  it('functions, blocks and loops of other engines are refused when the spec is parsed (the same check the controller makes)', () => {
    for (const t of FOREIGN_SHAPES) {
      const r = parseKeyVaultSync({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name: 'x', namespace: 'ns' }, spec: { ...templated(t), vault: { name: 'devkv', tenantID: fx.world.emu.endpoints.tenantID } } });
      expect(r.ok, t).toBe(false);
      if (!r.ok) expect(r.error.issues[0]?.path, t).toBe('spec.secretObjects[0].templates[0].template');
    }
  });

  it('the controller refuses a foreign function (ESO getSecretKey) with InvalidSpec and writes nothing', async () => {
    await syncs.create(fx.ns, 'get-secret-key', templated('{{ getSecretKey "kv-creds" "kube-system" "clientsecret" }}', [{ name: 'db-password' }], { secretName: 'gsk' }));
    const c = await refused('get-secret-key');
    expect(c.reason).toBe('InvalidSpec');
    expect(c.message).toContain('no functions');
    expect(await secretData('gsk')).toBeUndefined();
  });

  it("an object another KeyVaultSync of the same identity reads, or the credentials Secret, cannot be named", async () => {
    await syncs.create(fx.ns, 'reader', syncSpec(fx.world, { objects: [{ name: 'api-token' }], secretObjects: [{ secretName: 'reader', data: [{ objectName: 'api-token' }] }] }));
    await ready('reader'); // api-token is now in the shared object cache
    for (const [name, template] of [
      ['other-sync', 'token={{ api-token }}'],
      ['creds', 'secret={{ kv-creds }}'],
    ] as const) {
      await syncs.create(fx.ns, name, templated(template, [{ name: 'db-password' }], { secretName: `${name}-out` }));
      const c = await refused(name);
      expect(c.reason).toBe('InvalidSpec');
      expect(c.message).toContain('is not the output name of an object of this KeyVaultSync');
      expect(c.message).not.toContain('tok-1234');
      expect(await secretData(`${name}-out`)).toBeUndefined();
    }
  });

  it('output that looks like Secret fields stays the value of its one key; the type is the spec\'s', async () => {
    const template = '"}\ntype: kubernetes.io/service-account-token\ndata:\n  token: {{ db-password | base64 }}\n---\nkind: Secret\n';
    await syncs.create(fx.ns, 'fields', templated(template, [{ name: 'db-password' }], { secretName: 'fields' }));
    await ready('fields');
    const s = await secretData('fields');
    expect(s?.type).toBe('Opaque');
    expect(Object.keys(s?.data ?? {})).toEqual(['config']);
    expect(s?.data.config).toBe(template.replace('{{ db-password | base64 }}', Buffer.from(PASSWORD).toString('base64')));
  });

  it('a template key that another entry of the Secret produces is refused (CRD for explicit keys, kvsync for inferred ones)', async () => {
    const explicit: unknown = await syncs
      .create(fx.ns, 'dup-explicit', templated('{{ db-password }}', [{ name: 'db-password' }], { secretName: 'dup', data: [{ objectName: 'db-password', key: 'config' }] }))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(statusOf(explicit)).toBe(422);
    const spec = syncSpec(fx.world, { objects: [{ name: 'db-password' }], secretObjects: [{ secretName: 'dup', data: [{ objectName: 'db-password' }], templates: [{ key: 'db-password', template: 'x' }] }] });
    await syncs.create(fx.ns, 'dup-inferred', spec);
    const c = await refused('dup-inferred');
    expect(c.reason).toBe('InvalidSpec');
    expect(c.message).toContain('key "db-password" is produced twice');
    expect(await secretData('dup')).toBeUndefined();
  });

  it('a value is data: template text inside a vault value is written as it is, never expanded', async () => {
    await syncs.create(fx.ns, 'injection', templated('v={{ injected }}', [{ name: 'injected' }, { name: 'db-password' }, { name: 'api-token' }], { secretName: 'injection' }));
    await ready('injection');
    expect((await secretData('injection'))?.data.config).toBe(`v=${INJECTED}`);
  });

  it('json-string keeps a value inside its JSON string, whatever it contains', async () => {
    await syncs.create(fx.ns, 'breakout', templated('{"user": "app", "password": {{ breakout | json-string }}}', [{ name: 'breakout' }], { secretName: 'breakout' }));
    await ready('breakout');
    const doc = JSON.parse((await secretData('breakout'))?.data.config ?? '') as Record<string, unknown>;
    expect(doc).toEqual({ user: 'app', password: JSON_BREAKOUT });
  });

  it('amplification past 1 MiB fails with TemplateFailed before anything is written, first Secret included', async () => {
    const template = Array.from({ length: 64 }, () => '{{ big | hex }}').join('');
    await syncs.create(
      fx.ns,
      'amplify',
      syncSpec(fx.world, {
        objects: [{ name: 'big' }],
        secretObjects: [
          { secretName: 'amp-first', data: [{ objectName: 'big' }] },
          { secretName: 'amp-second', templates: [{ key: 'config', template }] },
        ],
      }),
    );
    const c = await refused('amplify');
    expect(c.reason).toBe('TemplateFailed');
    expect(c.message).toContain('would be larger than 1048576 bytes');
    expect(await secretData('amp-first')).toBeUndefined();
    expect(await secretData('amp-second')).toBeUndefined();
  });
});
