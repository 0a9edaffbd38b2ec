/** Values for the chart tests: every optional feature on (what "all features" renders). */
export function allFeaturesValues(watchNamespace: string): Record<string, unknown> {
  return {
    replicaCount: 3,
    logLevel: 'debug',
    concurrency: 8,
    watchNamespace,
    allowedVaultHosts: ['*.vault.contoso.local', 'kv.internal.example:8443'],
    serviceAccount: { annotations: { 'example.com/owner': 'platform' } },
    identity: {
      workloadIdentity: { clientId: '7d5a0c9e-5b1f-4c1e-9a53-0d2f5e8b6a11', tenantId: '00000000-0000-0000-0000-000000000000' },
      podIdentity: { binding: 'kvsync-operator' },
    },
    vaultRequestsPer10s: 200,
    expiryWarningWindow: '720h',
    objectCacheMaxBytes: '32Mi',
    eventGrid: { enabled: true, keySecret: { name: 'kvsync-eventgrid', key: 'key' }, audiences: ['api://kvsync-eventgrid', 'https://eventgrid.example'], clientIds: ['4962773b-9cdb-44cf-a8bf-237846a00ab7'], tenantId: '00000000-0000-0000-0000-000000000000' },
    webhook: { enabled: true, certificateSecret: 'kvsync-webhook-cert', sidecarImage: 'registry.example/kvsync:0.1.0' },
    metrics: { serviceMonitor: { enabled: true, labels: { release: 'prometheus' } } },
    networkPolicy: {
      enabled: true,
      webhookFrom: [{ ipBlock: { cidr: '10.0.0.0/28' } }],
      metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
      eventGridFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress' } } }],
    },
    admissionPolicies: { enabled: true },
    image: { digest: `sha256:${'a'.repeat(64)}` },
    imagePullSecrets: [{ name: 'regcred' }],
    podAnnotations: { 'example.com/team': 'platform' },
    podLabels: { team: 'platform' },
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    tolerations: [{ key: 'CriticalAddonsOnly', operator: 'Exists' }],
    affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'agentpool', operator: 'In', values: ['system'] }] } }] } },
    extraArgs: ['--log-level=debug'],
    extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=256' }],
  };
}
