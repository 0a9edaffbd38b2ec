/**
 * The YAML examples in docs/ marked as kvsync ("```yaml kvsync") are real resources: each KeyVaultSync
 * passes parseKeyVaultSync and each KeyVaultIdentity parseKeyVaultIdentity (the schema, defaults and CEL
 * twins the apiserver applies; test/integration/api/docs-examples.test.ts sends them to the real
 * apiserver too). A block of another kind fails, so the marker means what it says.
 */
import { describe, expect, it } from 'vitest';
import { parseKeyVaultIdentity, parseKeyVaultSync } from './parse.ts';
import { EXAMPLE_PAGES, kvsyncExamples, pageExamples } from './testing/doc-examples.ts';

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
        expect(obj.apiVersion, `${ex.file}:${ex.line} apiVersion`).toBe('kvsync.dev/v1alpha1');
        if (obj.kind === 'KeyVaultSync') {
          const r = parseKeyVaultSync(obj);
          expect(r.ok ? '' : r.error.message, `${ex.file}:${ex.line}`).toBe('');
          expect(r.warnings, `${ex.file}:${ex.line} warnings`).toEqual([]);
        } else if (obj.kind === 'KeyVaultIdentity') {
          const r = parseKeyVaultIdentity(obj);
          expect(r.ok ? '' : r.error.message, `${ex.file}:${ex.line}`).toBe('');
        } else {
          expect.fail(`${ex.file}:${ex.line}: a kvsync block holds only KeyVaultSync and KeyVaultIdentity, not ${String(obj.kind)}`);
        }
      }
    });
  }

  it('a broken example fails the check (it is not vacuous)', () => {
    const [broken] = kvsyncExamples('x.md', '```yaml kvsync\napiVersion: kvsync.dev/v1alpha1\nkind: KeyVaultSync\nmetadata: {name: x, namespace: y}\nspec:\n  vault: {name: gebakv}\n  identity: {workloadIdentity: {serviceAccountName: a}}\n```\n');
    const r = parseKeyVaultSync(broken!.objects[0]);
    expect(r.ok ? '' : r.error.message).toContain('spec.vault.tenantID');
  });
});
