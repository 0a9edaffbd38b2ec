/**
 * Migration that really is two lines, proven on a corpus of real SecretProviderClass manifests (public
 * repositories, docs and issue reports; kept outside the repository, read where they are). Each one,
 * with only `apiVersion` and `kind` changed, must either
 * - mean what it meant to the CSI driver's Azure provider: the same vault, identity, objects and
 *   files, and Secrets with the same names, types and keys whose values are what the driver would
 *   have written, checked through the `kvsync render` path against the Key Vault emulator (seeded with
 *   the objects the manifest names) and accepted by the real apiserver; or
 * - be refused with a reason that says what to change (the expectation table names the field and the
 *   words; every refusal is listed with why the CSI driver did not mean something kvsync can do).
 */
import { createPrivateKey, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, GROUP, VERSION } from '../../../src/api/crd.ts';
import { installCrds } from '../../../src/api/install.ts';
import { parseKeyVaultSync } from '../../../src/api/parse.ts';
import type { ResolvedKeyVaultSync } from '../../../src/api/resolved.ts';
import { startEmulator, type RunningEmulator } from '../../../src/emulator/server.ts';
import { KeyVaultAccess } from '../../../src/keyvault/access.ts';
import { loadAzureEnvironment, type AzureEnvironment } from '../../../src/keyvault/azure-environment.ts';
import { fetchObjects } from '../../../src/keyvault/fetch.ts';
import { renderOutputs } from '../../../src/keyvault/outputs.ts';
import { renderCredential } from '../../../src/keyvault/render-command.ts';
import { payloadFor } from '../../../src/mount/files.ts';
import { clientsFor } from '../emulator/kv-support.ts';
import { createTestNamespace, deleteTestNamespace, kubeConfig } from '../support/kube.ts';
import { loadCorpus, type CorpusEntry, type Manifest } from '../../support/migration-corpus.ts';

type Obj = Manifest;
type Spc = CorpusEntry;

/** The two lines. */
function migrated(spc: Obj): Obj {
  return { ...spc, apiVersion: API_VERSION, kind: 'KeyVaultSync' };
}

/**
 * The manifests kvsync refuses, with the field and the words of the reason. Each one either did not
 * work with the CSI driver either, or relied on something a KeyVaultSync cannot see (the pod).
 */
const REFUSED: Record<string, { path: string; says: RegExp; why: string }> = {
  'spc-02.yaml#0': { path: 'spec.secretObjects[0]', says: /objectType cert, which fetches the public certificate only: use objectType secret/, why: 'the driver cannot take tls.key from a public certificate, so this Secret never synced' },
  'spc-06.yaml#0': { path: 'spec.identity', says: /nodePublishSecretRef.*set spec\.identity\.servicePrincipal\.secretRef\.name/, why: 'no identity parameter: the pod\'s nodePublishSecretRef' },
  'spc-15.yaml#0': { path: 'spec.identity', says: /nodePublishSecretRef.*userAssignedIdentityID is set, but the provider reads it only with useVMManagedIdentity/, why: 'the chart puts nodePublishSecretRef on the pod' },
  'spc-18.yaml#0': { path: 'spec.tenantId', says: /tenantId is an Azure provider parameter: move it under spec\.parameters/, why: 'tenantId outside parameters: the provider saw no tenant' },
  'spc-22.yaml#0': { path: 'spec.identity', says: /nodePublishSecretRef/, why: 'service principal through nodePublishSecretRef' },
  'spc-23.yaml#0': { path: 'spec.identity', says: /nodePublishSecretRef.*useWorkloadIdentity is not a provider parameter/, why: 'useWorkloadIdentity is not a parameter: the provider fell back to nodePublishSecretRef' },
  'spc-28.yaml#0': { path: 'spec', says: /is required/, why: 'broken indentation: no metadata.name, no spec' },
  'spc-29.yaml#0': { path: 'spec.identity', says: /nodePublishSecretRef/, why: 'service principal through nodePublishSecretRef' },
  'spc-30.yaml#0': { path: 'spec.parameters.objects: array[2].objectEncoding', says: /must be one of: utf-8, base64, hex/, why: 'the provider refuses objectEncoding "SECRET_ALIAS" too' },
  'spc-31.yaml#0': { path: 'spec.identity', says: /nodePublishSecretRef/, why: 'service principal through nodePublishSecretRef' },
  'spc-32.yaml#0': { path: 'spec.parameters.useAzureTokenProxy', says: /identity binding .*federated credential/, why: 'AKS identity binding: a token path kvsync does not take' },
  'spc-33.yaml#0': { path: 'spec.parameters.objects: array[0].objectName', says: /must be a Key Vault object name/, why: 'Key Vault names cannot hold "_": no vault has this object (the same spec with a valid name is checked below)' },
  'spc-34.yaml#0': { path: 'spec.identity', says: /nodePublishSecretRef/, why: 'service principal through nodePublishSecretRef' },
  'spc-38.yaml#0': { path: 'spec.identity', says: /nodePublishSecretRef.*useManagedIdentity is not a provider parameter/, why: 'useManagedIdentity is not a parameter: nodePublishSecretRef' },
  'spc-42.yaml#0': { path: 'spec.identity', says: /nodePublishSecretRef/, why: 'the bats test mounts with nodePublishSecretRef' },
  'spc-45.yaml#0': { path: 'spec.vault', says: /spec\.parameters\.keyvaultName is required/, why: 'a kustomize base without keyvaultName and tenantId' },
  'spc-45.yaml#1': { path: 'spec.vault', says: /spec\.parameters\.keyvaultName is required/, why: 'a kustomize base without keyvaultName and tenantId' },
};

// ---- what the manifest meant to the CSI driver's Azure provider, read independently of kvsync ----

interface CsiObject {
  objectName: string;
  objectType: 'secret' | 'cert' | 'key';
  file: string;
  version: string;
  versionHistory: number;
  encoding: string;
  format: string;
}

/** A parameter as the provider's Go code sees it: a trimmed string ("" when absent). */
function text(v: unknown): string {
  return typeof v === 'string' ? v.trim() : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

function csiTrue(v: unknown): boolean {
  return ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text(v));
}

function csiObjects(parameters: Obj): CsiObject[] {
  const doc = parseAllDocuments(text(parameters.objects))[0]?.toJS() as { array?: unknown[] } | null;
  return (doc?.array ?? []).map((item) => {
    const o = (typeof item === 'string' ? parseAllDocuments(item)[0]?.toJS() : item) as Record<string, unknown>;
    const s = (k: string): string => text(o[k]);
    return {
      objectName: s('objectName'),
      objectType: s('objectType').toLowerCase() as CsiObject['objectType'],
      file: s('objectAlias') === '' ? s('objectName') : s('objectAlias'),
      version: s('objectVersion'),
      versionHistory: Math.max(1, Number(s('objectVersionHistory') || '1')),
      encoding: s('objectEncoding').toLowerCase() || 'utf-8',
      format: s('objectFormat').toLowerCase() || 'pem',
    };
  });
}

function csiIdentity(p: Obj): { mode: string; clientID: string | undefined } {
  const nonEmpty = (v: unknown): string | undefined => (text(v) === '' ? undefined : text(v));
  if (csiTrue(p.usePodIdentity)) return { mode: 'podIdentity', clientID: undefined };
  if (csiTrue(p.useVMManagedIdentity)) return { mode: 'managedIdentity', clientID: nonEmpty(p.userAssignedIdentityID) };
  return { mode: 'workloadIdentity', clientID: nonEmpty(p.clientID) };
}

interface SecretObjectSpec {
  secretName: string;
  type?: string;
  data: { objectName: string; key: string }[];
}

/** Names the manifest uses as a certificate with its key: they are certificates in the vault. */
function certificateNames(spec: Obj, objects: CsiObject[]): Set<string> {
  const byFile = new Map(objects.map((o) => [o.file, o]));
  const names = new Set<string>();
  for (const o of objects) if (o.objectType === 'cert' || o.format === 'pfx') names.add(o.objectName);
  for (const s of (spec.secretObjects ?? []) as SecretObjectSpec[]) {
    for (const d of s.data) {
      const o = byFile.get(d.objectName) ?? byFile.get(d.objectName.replace(/\.(crt|key)$/, ''));
      if (o !== undefined && (s.type === 'kubernetes.io/tls' || o.file !== d.objectName)) names.add(o.objectName);
    }
  }
  return names;
}

// ---- the vault the corpus needs, seeded into the emulator ----

interface Seeded {
  /** vault → object name → the value as the vault stores it. */
  secrets: Map<string, Map<string, string>>;
  certificates: Map<string, Set<string>>;
  keys: Map<string, Set<string>>;
}

function seedPlan(accepted: Spc[]): Seeded {
  const plan: Seeded = { secrets: new Map(), certificates: new Map(), keys: new Map() };
  const at = <T>(m: Map<string, T>, vault: string, make: () => T): T => {
    let v = m.get(vault);
    if (v === undefined) m.set(vault, (v = make()));
    return v;
  };
  for (const { manifest } of accepted) {
    const spec = manifest.spec as Obj;
    const parameters = spec.parameters as Obj;
    const vault = String(parameters.keyvaultName).trim().toLowerCase();
    const objects = csiObjects(parameters);
    const certs = certificateNames(spec, objects);
    for (const o of objects) {
      if (certs.has(o.objectName)) at(plan.certificates, vault, () => new Set()).add(o.objectName);
      else if (o.objectType === 'key') at(plan.keys, vault, () => new Set()).add(o.objectName);
      else {
        const plain = `value of ${o.objectName} ${randomBytes(6).toString('hex')}`;
        const stored = o.encoding === 'base64' ? Buffer.from(plain).toString('base64') : o.encoding === 'hex' ? Buffer.from(plain).toString('hex') : plain;
        at(plan.secrets, vault, () => new Map()).set(o.objectName, stored);
      }
    }
  }
  return plan;
}

/**
 * spc-33 with an object name Key Vault allows: the provider's `--write-cert-and-key-in-separate-files`
 * outputs `<alias>.crt` and `<alias>.key`, read by its secretObjects.
 */
function spc33WithValidName(all: Spc[]): Spc {
  const manifest = all.find((s) => s.id === 'spc-33.yaml#0')?.manifest ?? {};
  const spec = manifest.spec as Obj;
  const parameters = spec.parameters as Obj;
  return { id: 'spc-33.yaml#0 with objectName mycert-in-pem', manifest: { ...manifest, spec: { ...spec, parameters: { ...parameters, objects: String(parameters.objects).replace('mycert_in_pem', 'mycert-in-pem') } } } };
}

const corpus = loadCorpus('spc-');
const accepted = [...corpus.filter((s) => REFUSED[s.id] === undefined), spc33WithValidName(corpus)];

let emu: RunningEmulator;
let env: AzureEnvironment;
let dir = '';
let plan: Seeded;
const access = new KeyVaultAccess();

beforeAll(async () => {
  plan = seedPlan(accepted);
  const vaults = [...new Set([...plan.secrets.keys(), ...plan.certificates.keys(), ...plan.keys.keys()])].map((name) => ({
    name,
    secrets: [...(plan.secrets.get(name) ?? new Map<string, string>())].map(([n, value]) => ({ name: n, value })),
    certificates: [...(plan.certificates.get(name) ?? new Set<string>())].map((n) => ({ name: n, issuer: 'EmulatorTestCA', subject: `CN=${n}`, dnsNames: [`${n.toLowerCase()}.example`], contentType: 'application/x-pkcs12' })),
  }));
  dir = mkdtempSync(join(tmpdir(), 'kvsync-spc-corpus-'));
  emu = await startEmulator({ stateDir: join(dir, 'state'), log: () => undefined, configDocument: { vaults } });
  // Two versions of every key and secret: objectVersionHistory has two versions to write.
  for (const [vault, names] of plan.keys) {
    const { keys } = clientsFor(emu, undefined, vault);
    for (const name of names) for (let i = 0; i < 2; i++) await keys.createRsaKey(name, { keySize: 2048 });
  }
  for (const [vault, secrets] of plan.secrets) {
    const client = clientsFor(emu, undefined, vault).secrets;
    for (const [name, value] of secrets) {
      await client.setSecret(name, value);
    }
  }
  env = await loadAzureEnvironment({ endpointsFile: join(dir, 'state', 'endpoints.json') });
}, 180_000);

afterAll(async () => {
  await emu.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Pinned versions in the corpus are the authors' own: point each at the current version in the emulator. */
async function withEmulatorVersions(sync: ResolvedKeyVaultSync): Promise<ResolvedKeyVaultSync> {
  const c = clientsFor(emu, undefined, String(sync.vault.name).toLowerCase());
  const objects = [];
  for (const o of sync.objects) {
    if (o.version === undefined) objects.push(o);
    else if (o.type === 'key') objects.push({ ...o, version: (await c.keys.getKey(o.name)).properties.version });
    else if (o.type === 'secret') objects.push({ ...o, version: (await c.secrets.getSecret(o.name)).properties.version });
    else objects.push({ ...o, version: (await c.certificates.getCertificate(o.name)).properties.version });
  }
  return { ...sync, objects };
}

/** The leaf certificate of a certificate in the emulator's vault. */
async function leafOf(vault: string, name: string): Promise<X509Certificate> {
  const cer = (await clientsFor(emu, undefined, vault).certificates.getCertificate(name)).cer;
  if (cer === undefined) throw new Error(`certificate ${name} has no cer`);
  return new X509Certificate(Buffer.from(cer));
}

function pemCertificates(text: string): X509Certificate[] {
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
}

/** What the CSI driver would have put under a key: checked by property, as the bytes carry fresh keys. */
async function expectCsiValue(what: string, value: Buffer, o: CsiObject, part: 'file' | 'tls.crt' | 'tls.key', stored: string | undefined, leaf: () => Promise<X509Certificate>): Promise<void> {
  const text = value.toString('utf8');
  const isCertificate = stored === undefined;
  if (!isCertificate && o.objectType !== 'key') {
    const plain = o.encoding === 'base64' ? Buffer.from(stored ?? '', 'base64') : o.encoding === 'hex' ? Buffer.from(stored ?? '', 'hex') : Buffer.from(stored ?? '', 'utf8');
    expect(value.equals(plain), `${what}: the secret's value, decoded per objectEncoding`).toBe(true);
    return;
  }
  if (o.objectType === 'key') {
    expect(text, `${what}: the public key as PEM`).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    createPublicKey(text);
    return;
  }
  if (o.format === 'pfx' && part === 'file') {
    // The backing secret as Key Vault holds it (base64 text), or its bytes with objectEncoding base64.
    const der = o.encoding === 'base64' ? value : Buffer.from(text, 'base64');
    expect(der[0], `${what}: PKCS#12 (a DER SEQUENCE)`).toBe(0x30);
    return;
  }
  const certs = pemCertificates(text);
  const wantsCert = part !== 'tls.key';
  const wantsKey = part === 'tls.key' || (part === 'file' && o.objectType === 'secret');
  if (wantsCert) expect(certs[0]?.subject, `${what}: the leaf certificate first`).toBe(`CN=${o.objectName}`);
  else expect(certs, `${what}: no certificate`).toEqual([]);
  if (wantsKey) {
    expect((await leaf()).checkPrivateKey(createPrivateKey(text)), `${what}: the private key of the leaf`).toBe(true);
  } else {
    expect(text, `${what}: no private key`).not.toContain('PRIVATE KEY');
  }
}

describe('the SecretProviderClass corpus, with apiVersion and kind changed', () => {
  const all = corpus;

  it('holds the 47 manifests (49 SecretProviderClasses with multi-document files)', () => {
    expect(new Set(all.map((s) => s.id.split('#')[0])).size).toBe(47);
    expect(Object.keys(REFUSED).every((id) => all.some((s) => s.id === id))).toBe(true);
  });

  for (const [id, refusal] of Object.entries(REFUSED)) {
    it(`${id} is refused with a reason that says what to change (${refusal.why})`, () => {
      const spc = all.find((s) => s.id === id);
      const r = parseKeyVaultSync(migrated(spc?.manifest ?? {}));
      expect(r.ok).toBe(false);
      if (r.ok) return;
      const issue = r.error.issues.find((i) => i.path === refusal.path);
      expect(issue?.message, `${id}: ${r.error.message}`).toMatch(refusal.says);
    });
  }

  for (const { id, manifest } of accepted) {
    it(`${id} means what it meant to the CSI driver, rendered against the emulator`, async () => {
      const parsed = parseKeyVaultSync(migrated(manifest), env);
      if (!parsed.ok) throw new Error(`${id}: ${parsed.error.message}`);
      const sync = parsed.value;
      const spec = manifest.spec as Obj;
      const parameters = spec.parameters as Obj;
      const vaultName = String(parameters.keyvaultName).trim().toLowerCase();

      // The same vault, identity and objects.
      expect(sync.vault.name?.toLowerCase()).toBe(vaultName);
      expect(sync.vault.url).toBe(env.vaultUrls[vaultName]);
      const identity = csiIdentity(parameters);
      expect(sync.identity.mode).toBe(identity.mode);
      if (sync.identity.mode !== 'servicePrincipal') expect(sync.identity.clientID).toBe(identity.clientID);
      const objects = csiObjects(parameters);
      expect(sync.objects.map((o) => [o.outputName, o.name, o.type, o.version ?? '', o.versionHistory, o.encoding, o.format])).toEqual(
        objects.map((o) => [o.file, o.objectName, o.objectType, o.version, o.versionHistory, o.encoding, o.format]),
      );

      // Fetched through the render path (the emulator's admin stands in for the identity).
      const credential = renderCredential(sync, env);
      if (typeof credential === 'string') throw new Error(credential);
      const target = await withEmulatorVersions(sync);
      const { fetched, failures } = await fetchObjects(target, credential, env, { access });
      expect(failures.map((f) => `${f.reason}: ${f.message}`)).toEqual([]);

      // The files a pod mounted: the same names (a directory of versions with objectVersionHistory).
      // A manifest reading <alias>.crt / <alias>.key ran where the provider had
      // --write-cert-and-key-in-separate-files: each certificate read as a PEM secret has those two too.
      const readsSeparate = ((spec.secretObjects ?? []) as SecretObjectSpec[]).some((s) => s.data.some((d) => objects.some((o) => o.file !== d.objectName && (`${o.file}.crt` === d.objectName || `${o.file}.key` === d.objectName))));
      const separate = (o: CsiObject): boolean => readsSeparate && o.objectType === 'secret' && o.format === 'pem' && (plan.certificates.get(vaultName)?.has(o.objectName) ?? false);
      const names = (o: CsiObject, path: string): string[] => (separate(o) ? [path, `${path}.crt`, `${path}.key`] : [path]);
      const files = Object.keys(payloadFor(target, fetched)).sort();
      expect(files).toEqual(objects.flatMap((o) => (o.versionHistory > 1 ? [...names(o, `${o.file}/0`), ...names(o, `${o.file}/1`)] : names(o, o.file))).sort());

      // The Secrets: the same names, types and keys, each value what the driver would have written.
      const rendered = renderOutputs(target, fetched);
      const secretObjects = (spec.secretObjects ?? []) as SecretObjectSpec[];
      expect(rendered.secrets.map((s) => [s.name, s.type])).toEqual(secretObjects.map((s) => [s.secretName, s.type ?? 'Opaque']));
      for (const s of secretObjects) {
        const out = rendered.secrets.find((r) => r.name === s.secretName);
        expect(Object.keys(out?.data ?? {}).sort()).toEqual(s.data.map((d) => d.key).sort());
        for (const d of s.data) {
          const file = objects.find((o) => o.file === d.objectName);
          const base = file ?? objects.find((o) => `${o.file}.crt` === d.objectName || `${o.file}.key` === d.objectName);
          if (base === undefined) throw new Error(`${id}: ${d.objectName} names no object`);
          const part = s.type === 'kubernetes.io/tls' && (d.key === 'tls.crt' || d.key === 'tls.key') ? d.key : file === undefined ? (d.objectName.endsWith('.crt') ? 'tls.crt' : 'tls.key') : 'file';
          const value = out?.data[d.key];
          if (value === undefined) throw new Error(`${id}: ${s.secretName}/${d.key} missing`);
          await expectCsiValue(`${id} ${s.secretName}/${d.key}`, value, base, part, plan.secrets.get(vaultName)?.get(base.objectName), () => leafOf(vaultName, base.objectName));
        }
      }
    });
  }

});

describe('the corpus on the real apiserver', () => {
  const kc = kubeConfig();
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  let namespace = '';

  beforeAll(async () => {
    await installCrds(kc, { timeoutMs: 60_000 });
    namespace = await createTestNamespace(kc, 'spc-corpus');
  });

  afterAll(async () => {
    if (namespace !== '') await deleteTestNamespace(kc, namespace);
  });

  it('accepts every manifest kvsync accepts, as written (schema, defaults, CEL)', async () => {
    for (const { id, manifest } of accepted) {
      const body = migrated({ ...manifest, metadata: { ...(manifest.metadata as Obj), namespace } });
      const created = (await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'keyvaultsyncs', body, dryRun: 'All', fieldValidation: 'Strict' }).catch((err: unknown) => {
        throw new Error(`${id}: ${err instanceof Error ? err.message : String(err)}`);
      })) as { spec?: unknown };
      expect(created.spec, id).toBeDefined();
    }
  });
});
