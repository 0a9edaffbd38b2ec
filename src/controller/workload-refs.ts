/**
 * What a workload's pod template uses of a KeyVaultSync: pure functions over a pod template, used to
 * decide which workloads to roll when a KeyVaultSync's Secrets change (rollouts.ts).
 *
 * - Secret references: env `valueFrom.secretKeyRef`, `envFrom.secretRef`, `secret` volumes and
 *   `projected` volume secret sources, in containers and init containers.
 * - The webhook's env injection, which the template carries unrewritten (the webhook mutates Pods, not
 *   templates): env values `kvsync:<kvs>/<alias>` / `kvsync:<ns>/<kvs>/<alias>`, akv2k8s'
 *   `<kvs>@azurekeyvault[?key]`, and the template annotation `kvsync.dev/env-from: <kvs>[,<kvs>]`.
 */
import type { V1Container, V1PodTemplateSpec } from '@kubernetes/client-node';
import type { ResolvedKeyVaultSync } from '../api/index.ts';
import { parseEnvReference, secretKeyFor } from '../webhook/mutate-pod.ts';
import { ENV_FROM_ANNOTATION } from '../webhook/names.ts';

function containersOf(template: V1PodTemplateSpec | undefined): V1Container[] {
  return [...(template?.spec?.containers ?? []), ...(template?.spec?.initContainers ?? [])];
}

/** Names of the Secrets a pod template references (env, envFrom, secret and projected volumes). */
export function secretsReferencedBy(template: V1PodTemplateSpec | undefined): Set<string> {
  const out = new Set<string>();
  for (const c of containersOf(template)) {
    for (const e of c.env ?? []) {
      const name = e.valueFrom?.secretKeyRef?.name;
      if (name !== undefined) out.add(name);
    }
    for (const s of c.envFrom ?? []) {
      const name = s.secretRef?.name;
      if (name !== undefined) out.add(name);
    }
  }
  for (const v of template?.spec?.volumes ?? []) {
    if (v.secret?.secretName !== undefined) out.add(v.secret.secretName);
    for (const src of v.projected?.sources ?? []) {
      if (src.secret?.name !== undefined) out.add(src.secret.name);
    }
  }
  return out;
}

/**
 * Names of `sync`'s Secrets that the template gets through the webhook's env injection (env
 * references to this KeyVaultSync, or the env-from annotation naming it). A reference the webhook
 * would deny (unknown alias, other namespace, malformed) uses nothing.
 */
export function secretsInjectedFrom(template: V1PodTemplateSpec | undefined, sync: ResolvedKeyVaultSync, namespace: string): Set<string> {
  const out = new Set<string>();
  const name = sync.name ?? '';
  const envFrom = template?.metadata?.annotations?.[ENV_FROM_ANNOTATION];
  if (envFrom !== undefined) {
    for (const ref of envFrom.split(',').map((s) => s.trim())) {
      if (ref === name || ref === `${namespace}/${name}`) for (const s of sync.secrets) out.add(s.name);
    }
  }
  for (const c of containersOf(template)) {
    for (const e of c.env ?? []) {
      if (typeof e.value !== 'string') continue;
      let ref;
      try {
        ref = parseEnvReference(e.value);
      } catch {
        continue;
      }
      if (ref === undefined || ref.sync !== name || (ref.namespace !== undefined && ref.namespace !== namespace)) continue;
      try {
        out.add(secretKeyFor(sync, ref, 'env').name);
      } catch {
        // The webhook denies such a pod; nothing of ours reaches it.
      }
    }
  }
  return out;
}
