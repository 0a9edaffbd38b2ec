/**
 * The YAML examples in docs/ marked as kvsync ("```yaml kvsync") are real resources: each KeyVaultSync
 * passes parseKeyVaultSync, each KeyVaultIdentity parseKeyVaultIdentity and each ClusterKeyVaultSync
 * parseClusterKeyVaultSync (the schema, defaults and CEL
 * twins the apiserver applies; test/integration/api/docs-examples.test.ts sends them to the real
 * apiserver too). An Ingress or Gateway in such a block asks kvsync for a TLS Secret: it must derive a
 * valid KeyVaultSync. A block of another kind fails, so the marker means what it says.
 */
import { describe, expect, it } from 'vitest';
import { parseClusterKeyVaultSync } from './parse-cluster.ts';
import { parseKeyVaultIdentity, parseKeyVaultSync } from './parse.ts';
import { EXAMPLE_PAGES, expectationMismatches, kvsyncExamples, pageExamples, pageWorkedExamples, parseExpectation, workedExamples, type ObservedSecret } from './testing/doc-examples.ts';
import { deriveGatewaySync, deriveIngressSync, GATEWAY_API_VERSION, INGRESS_API_VERSION } from './tls-origin.ts';
import { AZURE_VAULT_HOSTS_ONLY } from './vault-url.ts';

describe('kvsync examples in the docs', () => {
  const examples = EXAMPLE_PAGES.flatMap(pageExamples);

  it('finds the marked blocks (migration: SecretProviderClass and akv2k8s, both forms)', () => {
    expect(pageExamples('migration.md').length).toBeGreaterThanOrEqual(6);
    expect(pageExamples('api.md').length).toBeGreaterThanOrEqual(3);
  });

  for (const ex of examples) {
    it(`${ex.file}:${ex.line} is valid`, () => {
      expect(ex.objects.length).toBeGreaterThan(0);
      for (const obj of ex.objects) {
        const apiVersion = obj.kind === 'Ingress' ? INGRESS_API_VERSION : obj.kind === 'Gateway' ? GATEWAY_API_VERSION : 'kvsync.dev/v1alpha1';
        expect(obj.apiVersion, `${ex.file}:${ex.line} apiVersion`).toBe(apiVersion);
        if (obj.kind === 'Ingress' || obj.kind === 'Gateway') {
          const d = obj.kind === 'Ingress' ? deriveIngressSync(obj, AZURE_VAULT_HOSTS_ONLY) : deriveGatewaySync(obj, AZURE_VAULT_HOSTS_ONLY);
          expect(d.kind === 'refused' ? d.message : d.kind, `${ex.file}:${ex.line}: asks kvsync for a TLS Secret`).toBe('sync');
        } else if (obj.kind === 'KeyVaultSync') {
          const r = parseKeyVaultSync(obj);
          expect(r.ok ? '' : r.error.message, `${ex.file}:${ex.line}`).toBe('');
          expect(r.warnings, `${ex.file}:${ex.line} warnings`).toEqual([]);
        } else if (obj.kind === 'KeyVaultIdentity') {
          const r = parseKeyVaultIdentity(obj);
          expect(r.ok ? '' : r.error.message, `${ex.file}:${ex.line}`).toBe('');
        } else if (obj.kind === 'ClusterKeyVaultSync') {
          const r = parseClusterKeyVaultSync(obj);
          expect(r.ok ? '' : r.error.message, `${ex.file}:${ex.line}`).toBe('');
          expect(r.warnings, `${ex.file}:${ex.line} warnings`).toEqual([]);
        } else {
          expect.fail(`${ex.file}:${ex.line}: a kvsync block holds only KeyVaultSync, KeyVaultIdentity, ClusterKeyVaultSync, and Ingress or Gateway asking for TLS, not ${String(obj.kind)}`);
        }
      }
    });
  }

  it('an Ingress that asks kvsync for nothing fails the check', () => {
    const [plain] = kvsyncExamples('x.md', '```yaml kvsync\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x, namespace: y}\nspec:\n  tls: [{secretName: s}]\n```\n');
    expect(deriveIngressSync(plain!.objects[0]!, AZURE_VAULT_HOSTS_ONLY).kind).toBe('none');
  });

  it('a broken example fails the check (it is not vacuous)', () => {
    const [broken] = kvsyncExamples('x.md', '```yaml kvsync\napiVersion: kvsync.dev/v1alpha1\nkind: KeyVaultSync\nmetadata: {name: x, namespace: y}\nspec:\n  vault: {name: gebakv}\n  identity: {workloadIdentity: {serviceAccountName: a}}\n```\n');
    const r = parseKeyVaultSync(broken!.objects[0]);
    expect(r.ok ? '' : r.error.message).toContain('spec.vault.tenantID');
  });

  it('api.md shows a ClusterKeyVaultSync', () => {
    expect(pageExamples('api.md').flatMap((e) => e.objects).some((o) => o.kind === 'ClusterKeyVaultSync')).toBe(true);
  });
});

describe('worked examples in the docs (kvsync-vault, kvsync, kvsync-expect)', () => {
  const fence = (marker: string, body: string): string => `\`\`\`yaml ${marker}\n${body}\n\`\`\`\n`;
  const sync = fence('kvsync', 'apiVersion: kvsync.dev/v1alpha1\nkind: KeyVaultSync\nmetadata: {name: a, namespace: shop}\nspec: {}');
  const vault = fence('kvsync-vault', 'secrets: [{name: s, value: v}]');
  const expectA = fence('kvsync-expect', 'secrets: {a: {data: {s: v}}}');

  it('api.md has worked examples for templates, selection and lifecycle, every step with an expectation', () => {
    const worked = pageWorkedExamples('api.md');
    const applied = worked.flatMap((w) => w.steps.map((st) => JSON.stringify(st.example.objects)));
    for (const field of ['templates', 'select', 'deletionPolicy']) expect(applied.some((a) => a.includes(`"${field}"`)), field).toBe(true);
    expect(worked.flatMap((w) => w.steps).some((st) => st.expect.after === 'delete')).toBe(true);
  });

  it('every page parses (a block out of place or of another shape fails here, not in the integration test)', () => {
    for (const page of EXAMPLE_PAGES) expect(() => pageWorkedExamples(page), page).not.toThrow();
  });

  it('an expectation checks the kvsync block just above it; after: delete the one applied last', () => {
    const [ex] = workedExamples('x.md', vault + sync + expectA + fence('kvsync-expect', 'after: delete\nabsent: [a]'));
    expect(ex?.steps.map((st) => [st.expect.after, st.example.line])).toEqual([['apply', 4], ['delete', 4]]);
    expect(ex?.vault).toEqual({ secrets: [{ name: 's', value: 'v' }], certificates: [] });
  });

  it('refuses blocks out of place and fields it does not know', () => {
    expect(() => workedExamples('x.md', sync + expectA)).toThrow('x.md:7: a kvsync-expect block needs a kvsync-vault block before it');
    expect(() => workedExamples('x.md', vault + expectA)).toThrow('after: apply needs a kvsync block');
    expect(() => workedExamples('x.md', vault + sync)).toThrow('x.md:1: a kvsync-vault block with no kvsync-expect block after it');
    expect(() => workedExamples('x.md', vault + sync + fence('kvsync-expect', 'secrets: {a: {keys: [s]}}'))).toThrow('needs data');
    expect(() => parseExpectation('e', 'secrets: {a: {data: {s: v}, owner: x}}')).toThrow('e secrets.a: unknown field owner');
    expect(() => parseExpectation('e', 'after: apply')).toThrow('expects nothing');
  });

  it('reports each difference by Secret and key, never a value', () => {
    const expectation = parseExpectation('e', 'secrets:\n  a: {type: Opaque, data: {s: right, p: {pem: [PRIVATE KEY, CERTIFICATE]}}}\n  b: {data: {x: y}}\nabsent: [c]');
    const pem = '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n';
    const observed = new Map<string, ObservedSecret>([
      ['a', { type: 'Opaque', data: { s: 'wrong-value', p: pem, extra: 'z' } }],
      ['c', { data: {} }],
    ]);
    const diff = expectationMismatches(expectation, observed);
    expect(diff).toEqual([
      'Secret a has the keys [extra, p, s], not [p, s]',
      'Secret a key s holds another value',
      'Secret a key p holds the PEM blocks [CERTIFICATE], not [PRIVATE KEY, CERTIFICATE]',
      'Secret b is missing',
      'Secret c exists',
    ]);
    expect(diff.join('\n')).not.toContain('wrong-value');
    const matching = new Map<string, ObservedSecret>([
      ['a', { type: 'Opaque', data: { s: 'right', p: `-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n${pem}` } }],
      ['b', { data: { x: 'y' } }],
    ]);
    expect(expectationMismatches(expectation, matching)).toEqual([]);
  });
});
