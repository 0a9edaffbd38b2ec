/**
 * The MutatingWebhookConfiguration for the pod webhook.
 *
 * Opt-in is "namespace label OR pod label", but one webhook's selectors are ANDed, so there are two
 * webhooks on the same endpoint: one for namespaces labelled `kvsync.dev/inject: enabled`, one for
 * pods with that label in other namespaces (the second excludes labelled namespaces so a pod is never
 * sent twice). Both exclude kube-system and the operator's namespace by `kubernetes.io/metadata.name`.
 *
 * failurePolicy is `Fail` by default, for both: only pods that asked for kvsync reach the webhook
 * (the selectors are the blast radius), and such a pod started without its secrets — an env var
 * still holding `kvsync:shop/password`, or no files and no sidecar — fails later in a worse way than
 * a clear "webhook unavailable" on create, which its ReplicaSet retries. The operator namespace and
 * kube-system are excluded so the webhook can never block its own recovery.
 */
import type { V1LabelSelectorRequirement, V1MutatingWebhook, V1MutatingWebhookConfiguration, V1LabelSelector } from '@kubernetes/client-node';
import { INJECT_ENABLED, INJECT_LABEL } from './names.ts';

export const MUTATE_PODS_PATH = '/mutate-pods';

export interface WebhookConfigurationOptions {
  /** Object name, e.g. `kvsync-webhook`. */
  name: string;
  operatorNamespace: string;
  /** Reach the webhook by URL (tests, out-of-cluster) or by Service. */
  endpoint: { url: string } | { service: { namespace: string; name: string; port?: number } };
  /** PEM CA bundle; omit when cert-manager's cainjector (or the certificate manager) sets it. */
  caBundlePem?: string;
  /** Default 10 (the apiserver's default is 10, max 30). */
  timeoutSeconds?: number;
  /** Default `Fail`; see the module comment. */
  failurePolicy?: 'Fail' | 'Ignore';
  /** Further namespace restrictions ANDed into both webhooks (tests confine the webhook with these). */
  extraNamespaceRequirements?: V1LabelSelectorRequirement[];
  labels?: Record<string, string>;
}

export function webhookConfiguration(opts: WebhookConfigurationOptions): V1MutatingWebhookConfiguration {
  const caBundle = opts.caBundlePem === undefined ? undefined : Buffer.from(opts.caBundlePem, 'utf8').toString('base64');
  const clientConfig =
    'url' in opts.endpoint
      ? { url: `${opts.endpoint.url.replace(/\/$/, '')}${MUTATE_PODS_PATH}`, caBundle }
      : { service: { namespace: opts.endpoint.service.namespace, name: opts.endpoint.service.name, port: opts.endpoint.service.port ?? 443, path: MUTATE_PODS_PATH }, caBundle };
  const notExcluded: V1LabelSelectorRequirement = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', opts.operatorNamespace] };
  const extra = opts.extraNamespaceRequirements ?? [];
  const common = (name: string, namespaceSelector: V1LabelSelector, objectSelector: V1LabelSelector | undefined): V1MutatingWebhook => ({
    name,
    clientConfig,
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
    namespaceSelector,
    ...(objectSelector === undefined ? {} : { objectSelector }),
    failurePolicy: opts.failurePolicy ?? 'Fail',
    matchPolicy: 'Equivalent',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: opts.timeoutSeconds ?? 10,
    // Another webhook (e.g. Azure Workload Identity's, a service mesh) may add containers after us.
    reinvocationPolicy: 'IfNeeded',
  });
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: opts.name, labels: { 'app.kubernetes.io/managed-by': 'kvsync', ...opts.labels } },
    webhooks: [
      common('namespace.pods.kvsync.dev', { matchExpressions: [{ key: INJECT_LABEL, operator: 'In', values: [INJECT_ENABLED] }, notExcluded, ...extra] }, undefined),
      common(
        'pod.pods.kvsync.dev',
        { matchExpressions: [{ key: INJECT_LABEL, operator: 'NotIn', values: [INJECT_ENABLED] }, notExcluded, ...extra] },
        { matchLabels: { [INJECT_LABEL]: INJECT_ENABLED } },
      ),
    ],
  };
}
