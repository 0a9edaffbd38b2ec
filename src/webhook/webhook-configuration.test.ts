import { describe, expect, it } from 'vitest';
import { webhookConfiguration } from './webhook-configuration.ts';

describe('webhookConfiguration', () => {
  it('has a namespace-label and a pod-label webhook, both excluding kube-system and the operator namespace', () => {
    const cfg = webhookConfiguration({ name: 'kvsync-webhook', operatorNamespace: 'kvsync-system', endpoint: { service: { namespace: 'kvsync-system', name: 'kvsync-webhook' } }, caBundlePem: 'PEM' });
    const [byNs, byPod] = cfg.webhooks ?? [];
    const excluded = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kvsync-system'] };
    expect(byNs?.namespaceSelector?.matchExpressions).toEqual([{ key: 'kvsync.dev/inject', operator: 'In', values: ['enabled'] }, excluded]);
    expect(byNs?.objectSelector).toBeUndefined();
    // Pods with the label in namespaces without it: never sent twice.
    expect(byPod?.namespaceSelector?.matchExpressions).toEqual([{ key: 'kvsync.dev/inject', operator: 'NotIn', values: ['enabled'] }, excluded]);
    expect(byPod?.objectSelector).toEqual({ matchLabels: { 'kvsync.dev/inject': 'enabled' } });
    for (const w of cfg.webhooks ?? []) {
      expect(w).toMatchObject({ failurePolicy: 'Fail', sideEffects: 'None', admissionReviewVersions: ['v1'], reinvocationPolicy: 'IfNeeded', timeoutSeconds: 10 });
      expect(w.rules).toEqual([{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
      expect(w.clientConfig).toEqual({ service: { namespace: 'kvsync-system', name: 'kvsync-webhook', port: 443, path: '/mutate-pods' }, caBundle: Buffer.from('PEM').toString('base64') });
    }
  });

  it('points at a URL and adds extra namespace requirements', () => {
    const cfg = webhookConfiguration({
      name: 'x',
      operatorNamespace: 'op',
      endpoint: { url: 'https://127.0.0.1:9443/' },
      failurePolicy: 'Ignore',
      extraNamespaceRequirements: [{ key: 'team', operator: 'In', values: ['a'] }],
    });
    expect(cfg.webhooks?.[0]?.clientConfig.url).toBe('https://127.0.0.1:9443/mutate-pods');
    expect(cfg.webhooks?.[0]?.failurePolicy).toBe('Ignore');
    expect(cfg.webhooks?.[1]?.namespaceSelector?.matchExpressions?.at(-1)).toEqual({ key: 'team', operator: 'In', values: ['a'] });
  });
});
