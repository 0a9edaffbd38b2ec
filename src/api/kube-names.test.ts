import { describe, expect, it } from 'vitest';
import { annotationIssues, dataKeyProblem, isQualifiedName, labelIssues, MAX_ANNOTATIONS_BYTES } from './kube-names.ts';

describe('kube-names', () => {
  it('data keys: what the apiserver accepts, not "." or "..", at most 253 characters', () => {
    for (const ok of ['a', '.env', '..a', '...', 'tls.crt', '_x-1', 'k'.repeat(253)]) expect(dataKeyProblem(ok), ok).toBeUndefined();
    for (const bad of ['.', '..', '', 'a/b', 'a b', 'ä', 'k'.repeat(254)]) expect(dataKeyProblem(bad), bad).toBeDefined();
  });

  it('label and annotation keys are qualified names; label values are label values', () => {
    for (const ok of ['app', 'app.kubernetes.io/name', 'example.com/a_b.c']) expect(isQualifiedName(ok), ok).toBe(true);
    for (const bad of ['', '/a', 'a/', 'Ex ample/a', 'bad key', '-a', `${'a'.repeat(64)}`]) expect(isQualifiedName(bad), bad).toBe(false);
    expect(labelIssues({ ok: 'v', 'bad key': 'v' }, 'l').map((i) => i.message)).toEqual(['is not a valid label key ([prefix/]name)']);
    expect(labelIssues({ ok: 'not valid!' }, 'l')).toHaveLength(1);
    expect(labelIssues({ ok: '' }, 'l')).toEqual([]);
  });

  it('annotations at most 256 KiB in all', () => {
    expect(annotationIssues({ a: 'x'.repeat(MAX_ANNOTATIONS_BYTES - 1) }, 'a')).toEqual([]);
    expect(annotationIssues({ a: 'x'.repeat(MAX_ANNOTATIONS_BYTES) }, 'a')).toHaveLength(1);
  });
});
