/**
 * Runs a worked example of the docs (src/api/testing/doc-examples.ts) as a reader would: the emulator's
 * vault holds what the kvsync-vault block says and nothing else, a controller watches a fresh namespace
 * (holding `kv-creds`, the service principal the examples name), each kvsync block is applied as
 * written (server-side apply; only the namespace is the test's) and each expectation is polled until
 * the Secrets match it.
 */
import type { CertificatePolicy } from '@azure/keyvault-certificates';
import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../../src/api/index.ts';
import { expectationMismatches, type DocExample, type ObservedSecret, type VaultSeed, type WorkedExample, type WorkedStep } from '../../../src/api/testing/doc-examples.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { startOperatorFixture, type OperatorFixture } from '../controller/support.ts';
import { clientsFor } from '../emulator/kv-support.ts';

const FIELD_MANAGER = 'kvsync-docs-example';
const WAIT = { timeoutMs: 60_000, intervalMs: 250 };

/** Creates the vault's objects through the Azure SDK, as `az keyvault secret set` / `certificate create` would. */
async function seedVault(fx: OperatorFixture, vault: VaultSeed): Promise<void> {
  const kv = clientsFor(fx.world.emu);
  for (const s of vault.secrets) await kv.secrets.setSecret(s.name, s.value, s.tags === undefined ? {} : { tags: s.tags });
  for (const c of vault.certificates) {
    const subject = c.subject ?? `CN=${c.name}`;
    const policy: CertificatePolicy = c.dnsNames === undefined ? { issuerName: 'Self', subject } : { issuerName: 'Self', subject, subjectAlternativeNames: { dnsNames: c.dnsNames } };
    await (await kv.certificates.beginCreateCertificate(c.name, policy, { intervalInMs: 50, ...(c.tags === undefined ? {} : { tags: c.tags }) })).pollUntilDone();
  }
}

/** The block's objects, namespaced ones moved to the test's namespace. */
function inNamespace(example: DocExample, namespace: string): k8s.KubernetesObject[] {
  return example.objects.map((o): k8s.KubernetesObject => {
    const metadata = o.metadata as k8s.V1ObjectMeta;
    return { ...o, metadata: metadata.namespace === undefined ? metadata : { ...metadata, namespace } };
  });
}

function isKeyVaultSync(o: k8s.KubernetesObject): boolean {
  return o.apiVersion === `${GROUP}/${VERSION}` && o.kind === 'KeyVaultSync';
}

/** Waits until a KeyVaultSync's Ready condition is True for its current generation. */
async function syncedAtGeneration(objects: k8s.KubernetesObjectApi, obj: k8s.KubernetesObject): Promise<void> {
  const ref = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata?.name ?? '', namespace: obj.metadata?.namespace ?? '' } };
  await pollUntil(
    async () => {
      const got = await objects.read<k8s.KubernetesObject & { status?: { conditions?: { type: string; status: string; observedGeneration?: number }[] } }>(ref);
      const ready = got.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && ready.observedGeneration === got.metadata?.generation ? true : undefined;
    },
    { ...WAIT, description: `${obj.kind} ${ref.metadata.name} Ready for its generation` },
  );
}

/** Deletes in the foreground and waits until the object is gone (the garbage collector has done its part). */
async function deleteAndWait(objects: k8s.KubernetesObjectApi, obj: k8s.KubernetesObject): Promise<void> {
  await objects.delete(obj, undefined, undefined, undefined, undefined, 'Foreground');
  await pollUntil(
    async () => {
      try {
        await objects.read({ apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata?.name ?? '', namespace: obj.metadata?.namespace ?? '' } });
        return undefined;
      } catch (err) {
        if (err instanceof k8s.ApiException && err.code === 404) return true;
        throw err;
      }
    },
    { ...WAIT, description: `${String(obj.kind)} ${String(obj.metadata?.name)} gone` },
  );
}

async function observedSecrets(core: k8s.CoreV1Api, namespace: string): Promise<Map<string, ObservedSecret>> {
  const list = await core.listNamespacedSecret({ namespace });
  return new Map(
    list.items.map((s) => {
      const data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
      return [s.metadata?.name ?? '', { ...(s.type === undefined ? {} : { type: s.type }), data }];
    }),
  );
}

/** Does what the step says, then polls until the Secrets match its expectation; throws the differences left at the timeout. */
async function runStep(kc: k8s.KubeConfig, fx: OperatorFixture, step: WorkedStep): Promise<void> {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const resources = inNamespace(step.example, fx.ns);
  if (step.expect.after === 'apply') {
    for (const obj of resources) await objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
    for (const obj of resources.filter(isKeyVaultSync)) await syncedAtGeneration(objects, obj);
  } else {
    for (const obj of [...resources].reverse()) await deleteAndWait(objects, obj);
  }
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let last: string[] = [];
  try {
    await pollUntil(
      async () => {
        last = expectationMismatches(step.expect, await observedSecrets(core, fx.ns));
        return last.length === 0 ? true : undefined;
      },
      { ...WAIT, description: `${step.where} expectation` },
    );
  } catch (err) {
    throw new Error(`${step.where}: after ${step.expect.after} of ${step.example.file}:${step.example.line}: ${last.join('; ')}`, { cause: err });
  }
}

/** Runs every step of a worked example in a world of its own, and tears it down. */
export async function runWorkedExample(kc: k8s.KubeConfig, example: WorkedExample): Promise<void> {
  const fx = await startOperatorFixture(kc, 'docs-worked', {}, { emptyVault: true });
  try {
    await seedVault(fx, example.vault);
    for (const step of example.steps) await runStep(kc, fx, step);
  } finally {
    await fx.stop();
  }
}
