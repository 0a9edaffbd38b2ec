/**
 * Gateway listener TLS from kvsync's `tls.options`, on the real apiserver with the Gateway API's
 * standard CRDs (from the Go module, installed by server-side apply before the controller starts, so
 * it discovers and watches Gateways) and the Key Vault emulator: the docs/api.md Gateway example,
 * applied as written, gets its kubernetes.io/tls Secret and a TLSSecretCreated event; a listener
 * whose Secret is in another namespace is refused; dropping the options removes the Secret.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pageExamples } from '../../../src/api/testing/doc-examples.ts';
import { derivedSyncName, GATEWAY_GROUP, TLS_ORIGIN_LABEL } from '../../../src/api/tls-origin.ts';
import { installGatewayApiCrds } from '../../../src/dev/gateway-api-crds.ts';
import { pollUntil } from '../../../src/util/poll.ts';
import { clientsFor } from '../emulator/kv-support.ts';
import { kubeConfig } from '../support/kube.ts';
import { eventsWith, secretIfAny, startOperatorFixture, syncApi, VAULT, type OperatorFixture } from './support.ts';

const kc = kubeConfig();
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const gateways = { group: GATEWAY_GROUP, version: 'v1', plural: 'gateways' };
const WAIT = { timeoutMs: 60_000, intervalMs: 200 };
let fx: OperatorFixture;

interface GatewayDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: { gatewayClassName: string; listeners: { name: string; tls?: { certificateRefs?: { name: string; namespace?: string }[]; options?: Record<string, string> } }[] };
}

function example(): GatewayDoc {
  const obj = pageExamples('api.md').flatMap((e) => e.objects).find((o) => o.kind === 'Gateway');
  if (obj === undefined) throw new Error('docs/api.md has no Gateway example');
  return obj as unknown as GatewayDoc;
}

beforeAll(async () => {
  await installGatewayApiCrds(kc, { timeoutMs: 60_000 });
  fx = await startOperatorFixture(kc, 'gateway-tls');
}, 600_000);

afterAll(async () => {
  await fx.stop();
});

function secret(name: string): Promise<k8s.V1Secret | undefined> {
  return secretIfAny(kc, fx.ns, name);
}

function eventsOf(name: string, reason: string): Promise<k8s.CoreV1Event[]> {
  return eventsWith(kc, fx.ns, { kind: 'Gateway', name }, reason);
}

describe('Gateway listener TLS from tls.options', () => {
  it('the docs/api.md example gets its TLS Secret (leaf of the current version, chain, matching key) and an event', async () => {
    const body = { ...example(), metadata: { ...example().metadata, namespace: fx.ns } };
    await custom.createNamespacedCustomObject({ ...gateways, namespace: fx.ns, body, fieldValidation: 'Strict' });
    const s = await pollUntil(async () => secret('shop-gateway-tls'), { ...WAIT, description: 'Secret shop-gateway-tls' });
    expect(s.type).toBe('kubernetes.io/tls');
    const chain = Buffer.from(s.data?.['tls.crt'] ?? '', 'base64').toString('utf8').split(/(?=-----BEGIN CERTIFICATE-----)/).map((c) => new X509Certificate(c));
    expect(chain.length).toBe(2);
    expect(chain[0]?.checkPrivateKey(createPrivateKey(Buffer.from(s.data?.['tls.key'] ?? '', 'base64')))).toBe(true);
    const current = await clientsFor(fx.world.emu, undefined, VAULT).certificates.getCertificate('shop-tls');
    expect(chain[0]?.serialNumber).toBe(new X509Certificate(Buffer.from(current.cer ?? new Uint8Array())).serialNumber);
    const derived = await syncApi(kc).get(fx.ns, derivedSyncName('Gateway', 'shop'));
    expect(derived.metadata?.labels?.[TLS_ORIGIN_LABEL]).toBe('Gateway');
    expect(derived.metadata?.ownerReferences?.[0]).toMatchObject({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'shop', controller: true });
    expect((await eventsOf('shop', 'TLSSecretCreated')).find((e) => e.reason === 'TLSSecretCreated')?.message).toContain(`created Secret shop-gateway-tls (kubernetes.io/tls) from Key Vault certificate shop-tls version ${current.properties.version ?? ''}`);

    // The listener stops asking: the derived KeyVaultSync goes, and the Secret with it.
    const listeners = example().spec.listeners.map((l) => ({ ...l, tls: { ...l.tls, options: {} } }));
    await custom.patchNamespacedCustomObject({ ...gateways, namespace: fx.ns, name: 'shop', body: { spec: { listeners } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await pollUntil(async () => ((await secret('shop-gateway-tls')) === undefined ? true : undefined), { ...WAIT, description: 'Secret shop-gateway-tls deleted' });
    await eventsOf('shop', 'TLSSecretReleased');
  });

  it('refuses a listener whose Secret is in another namespace, writing nothing', async () => {
    const base = example();
    const listeners = base.spec.listeners.map((l) => ({ ...l, tls: { ...l.tls, certificateRefs: [{ name: 'stolen-tls', namespace: 'kube-system' }] } }));
    await custom.createNamespacedCustomObject({ ...gateways, namespace: fx.ns, body: { ...base, metadata: { name: 'elsewhere', namespace: fx.ns }, spec: { ...base.spec, listeners } } });
    const refused = await eventsOf('elsewhere', 'InvalidTLSRequest');
    expect(refused.find((e) => e.reason === 'InvalidTLSRequest')?.message).toContain("only in the Gateway's own namespace");
    await expect(syncApi(kc).get(fx.ns, derivedSyncName('Gateway', 'elsewhere'))).rejects.toMatchObject({ code: 404 });
  });
});
