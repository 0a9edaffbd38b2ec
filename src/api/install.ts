/**
 * Installs (or updates) the kvsync CRDs on a cluster by server-side apply and waits until the
 * apiserver serves them. Used by tests and by `kvsync dev`; in production the CRDs ship as crds/*.yaml.
 */
import * as k8s from '@kubernetes/client-node';
import { pollUntil } from '../util/poll.ts';
import { allCrds } from './crd.ts';

export const CRD_FIELD_MANAGER = 'kvsync-crds';

/**
 * Applies every CRD and resolves when each has `Established=True`. Rejects with the apiserver's
 * error when a CRD is refused (e.g. a CEL cost over budget), or with a PollTimeoutError.
 */
export async function installCrds(kc: k8s.KubeConfig, opts: { timeoutMs?: number } = {}): Promise<void> {
  await applyCrds(kc, Object.values(allCrds()), CRD_FIELD_MANAGER, opts);
}

/**
 * Server-side applies CRDs (wire-format objects, as parsed from YAML or JSON) with `fieldManager` and
 * resolves when each has `Established=True`.
 */
export async function applyCrds(kc: k8s.KubeConfig, crds: readonly object[], fieldManager: string, opts: { timeoutMs?: number } = {}): Promise<void> {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  for (const crd of crds) {
    // client-node serialises by its typed models, which read camelCase fields (xKubernetesValidations):
    // load the wire-format object into the model first so nothing is dropped on the way out.
    const model = k8s.loadYaml<k8s.V1CustomResourceDefinition>(JSON.stringify(crd));
    await objects.patch(model, undefined, undefined, fieldManager, true, k8s.PatchStrategy.ServerSideApply);
    const name = model.metadata?.name ?? '';
    await pollUntil(
      async () => {
        const got = await ext.readCustomResourceDefinition({ name });
        return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
      },
      { timeoutMs: opts.timeoutMs ?? 30_000, description: `CRD ${name} to be Established` },
    );
  }
}
