import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseKeyVaultSync } from '../api/parse.ts';
import type { ResolvedKeyVaultSync } from '../api/resolved.ts';
import { bundleFromKeyVaultSecret, CONTENT_TYPE_PEM, CONTENT_TYPE_PKCS12, PkiError } from '../pki/bundle.ts';
import { makeChain, opensslPkcs12, type TestChain } from '../pki/test-fixtures.ts';
import { isSyncError } from './errors.ts';
import type { FetchedObject, FetchedMaterial } from './fetch.ts';
import { dataSize, MAX_OBJECT_DATA_BYTES, renderOutputs } from './outputs.ts';

let chain: TestChain;
let pfxBase64: string;
let pemValue: string;

beforeAll(async () => {
  chain = await makeChain('RSA', 'outputs test');
  // Key Vault style: null-password PFX with 3DES (openssl -legacy, empty password approximates it) and a PEM bundle.
  pfxBase64 = opensslPkcs12(chain.leaf.keyPem, chain.root.certPem + chain.intermediate.certPem + chain.leaf.certPem, '', ['-legacy']).toString('base64');
  pemValue = chain.leaf.keyPem + chain.leaf.certPem + chain.intermediate.certPem + chain.root.certPem;
});

function resolve(spec: Record<string, unknown>): ResolvedKeyVaultSync {
  const r = parseKeyVaultSync({ apiVersion: 'kvsync.dev/v1alpha1', kind: 'KeyVaultSync', metadata: { name: 't', namespace: 'ns' }, spec: { vault: { name: 'devkv', tenantID: '00000000-0000-0000-0000-000000000000' }, identity: { workloadIdentity: { serviceAccountName: 'sa' } }, ...spec } });
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

function fetchedFor(sync: ResolvedKeyVaultSync, materials: Record<string, { material: FetchedMaterial; contentType?: string }>): FetchedObject[] {
  return sync.objects.flatMap((object) => {
    const m = materials[object.outputName];
    if (m === undefined) return [];
    return [{ object, version: 'v1', contentType: m.contentType, updatedOn: undefined, expiresOn: undefined, historyIndex: 0, material: m.material }];
  });
}

const secret = (value: string): { material: FetchedMaterial } => ({ material: { kind: 'secret', value } });
const certificate = (value: string, contentType: string): { material: FetchedMaterial; contentType: string } => ({
  material: { kind: 'certificate', bundle: bundleFromKeyVaultSecret(value, contentType), secretValue: value },
  contentType,
});

function certsOf(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
}

describe('renderOutputs: secret encodings', () => {
  it('writes utf-8 as is and decodes base64 and hex', () => {
    const sync = resolve({
      objects: [
        { name: 'plain', type: 'secret' },
        { name: 'b64', type: 'secret', encoding: 'base64' },
        { name: 'hex', type: 'secret', encoding: 'hex' },
      ],
      secretObjects: [{ secretName: 'out', type: 'Opaque', data: [{ objectName: 'plain' }, { objectName: 'b64', key: 'B' }, { objectName: 'hex', key: 'H' }] }],
    });
    const { secrets } = renderOutputs(sync, fetchedFor(sync, { plain: secret('héllo'), b64: secret(Buffer.from([0, 1, 255]).toString('base64')), hex: secret('00ff10') }));
    expect(secrets).toHaveLength(1);
    const s = secrets[0]!;
    expect(s.type).toBe('Opaque');
    expect(s.labels['app.kubernetes.io/managed-by']).toBe('kvsync');
    expect(s.data.plain?.toString('utf8')).toBe('héllo');
    expect(s.data.B).toEqual(Buffer.from([0, 1, 255]));
    expect(s.data.H).toEqual(Buffer.from([0, 0xff, 0x10]));
  });

  it('refuses a value that is not in its declared encoding, without quoting it', () => {
    const sync = resolve({ objects: [{ name: 'hex', type: 'secret', encoding: 'hex' }], secretObjects: [{ secretName: 'out', data: [{ objectName: 'hex' }] }] });
    let caught: unknown;
    try {
      renderOutputs(sync, fetchedFor(sync, { hex: secret('not-hex-TOPSECRET') }));
    } catch (err) {
      caught = err;
    }
    expect(isSyncError(caught, 'InvalidSpec')).toBe(true);
    expect((caught as Error).message).toContain('secret "hex"');
    expect((caught as Error).message).not.toContain('TOPSECRET');
  });
});

describe('renderOutputs: certificates', () => {
  it.each([
    ['PFX', CONTENT_TYPE_PKCS12],
    ['PEM', CONTENT_TYPE_PEM],
  ])('a %s certificate gives tls.crt = leaf then intermediate, tls.key matching, ca.crt on request', (_label, contentType) => {
    const sync = resolve({ objects: [{ name: 'web', type: 'certificate' }], secretObjects: [{ secretName: 'web-tls', type: 'kubernetes.io/tls', caCert: true, data: [{ objectName: 'web' }] }] });
    const value = contentType === CONTENT_TYPE_PKCS12 ? pfxBase64 : pemValue;
    const [s] = renderOutputs(sync, fetchedFor(sync, { web: certificate(value, contentType) })).secrets;
    expect(s?.type).toBe('kubernetes.io/tls');
    const crt = certsOf(s!.data['tls.crt']!.toString('utf8'));
    expect(crt.map((c) => c.subject)).toEqual([chain.leaf.cert.subject, chain.intermediate.cert.subject]);
    const keyPem = s!.data['tls.key']!.toString('utf8');
    expect(keyPem).toContain('-----BEGIN PRIVATE KEY-----');
    expect(crt[0]!.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    const ca = certsOf(s!.data['ca.crt']!.toString('utf8'));
    expect(ca.map((c) => c.subject)).toEqual([chain.intermediate.cert.subject, chain.root.cert.subject]);
  });

  it('includeRoot appends the root; keyFormat pkcs1 writes an RSA PRIVATE KEY', () => {
    const sync = resolve({ objects: [{ name: 'web', type: 'certificate' }], secretObjects: [{ secretName: 'web-tls', type: 'kubernetes.io/tls', includeRoot: true, keyFormat: 'pkcs1', data: [{ objectName: 'web' }] }] });
    const [s] = renderOutputs(sync, fetchedFor(sync, { web: certificate(pfxBase64, CONTENT_TYPE_PKCS12) })).secrets;
    expect(certsOf(s!.data['tls.crt']!.toString('utf8'))).toHaveLength(3);
    expect(s!.data['tls.key']!.toString('utf8')).toContain('-----BEGIN RSA PRIVATE KEY-----');
  });

  it('objectFormat pfx writes a PKCS#12 file that opens with the null password', () => {
    const sync = resolve({ objects: [{ name: 'web', type: 'certificate', format: 'pfx' }], secretObjects: [{ secretName: 'keystore', data: [{ objectName: 'web', key: 'keystore.pfx' }] }] });
    const [s] = renderOutputs(sync, fetchedFor(sync, { web: certificate(pemValue, CONTENT_TYPE_PEM) })).secrets;
    const der = s!.data['keystore.pfx']!;
    const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der.toString('binary')), false);
    const keyBags = p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag ?? '' })[forge.pki.oids.pkcs8ShroudedKeyBag ?? ''] ?? [];
    expect(keyBags).toHaveLength(1);
  });

  it('content of a pem certificate is the key then the chain; a ConfigMap gets the chain only', () => {
    const sync = resolve({
      objects: [{ name: 'web', type: 'certificate' }],
      secretObjects: [{ secretName: 'bundle', data: [{ objectName: 'web', key: 'bundle.pem' }] }],
      configMapObjects: [{ configMapName: 'public', data: [{ objectName: 'web', key: 'tls.crt' }] }],
    });
    const out = renderOutputs(sync, fetchedFor(sync, { web: certificate(pfxBase64, CONTENT_TYPE_PKCS12) }));
    const content = out.secrets[0]!.data['bundle.pem']!.toString('utf8');
    expect(content.indexOf('PRIVATE KEY')).toBeLessThan(content.indexOf('BEGIN CERTIFICATE'));
    const cm = out.configMaps[0]!;
    expect(cm.data['tls.crt']).toContain('BEGIN CERTIFICATE');
    expect(cm.data['tls.crt']).not.toContain('PRIVATE KEY');
  });

  it('a certificate known only by its public cer cannot give tls.key: InvalidCertificate naming it', () => {
    const sync = resolve({ objects: [{ name: 'web', type: 'certificate' }], secretObjects: [{ secretName: 'web-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'web' }] }] });
    const cerOnly = bundleFromKeyVaultSecret(chain.leaf.certPem, undefined);
    expect(() => renderOutputs(sync, fetchedFor(sync, { web: { material: { kind: 'certificate', bundle: cerOnly, secretValue: undefined } } }))).toThrow(
      expect.objectContaining({ reason: 'InvalidCertificate', object: 'web' }) as Error,
    );
  });

  it('derives other key formats and the root from the fetched bundle, never decoding the value again', () => {
    const sync = resolve({ objects: [{ name: 'web', type: 'certificate' }], secretObjects: [{ secretName: 'web-tls', type: 'kubernetes.io/tls', keyFormat: 'pkcs1', includeRoot: true, caCert: true, data: [{ objectName: 'web' }] }] });
    const bundle = bundleFromKeyVaultSecret(chain.leaf.keyPem + chain.leaf.certPem + chain.intermediate.certPem + chain.root.certPem, CONTENT_TYPE_PEM);
    // A value that would not decode: rendering must not need it.
    const material: FetchedMaterial = { kind: 'certificate', bundle, secretValue: 'not a certificate' };
    const data = renderOutputs(sync, fetchedFor(sync, { web: { material, contentType: CONTENT_TYPE_PEM } })).secrets[0]!.data;
    expect(data['tls.key']!.toString('utf8')).toContain('BEGIN RSA PRIVATE KEY');
    expect(data['tls.crt']!.toString('utf8').match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    expect(data['ca.crt']!.toString('utf8').match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
  });

  it('a secret written as tls.crt uses the bundle (or the failure) decoded at fetch time', () => {
    // As CSI's `parameters` form resolves it: a secret object (a certificate's backing secret) feeding tls parts.
    const asCertificate = resolve({ objects: [{ name: 'web', type: 'certificate' }], secretObjects: [{ secretName: 'web-tls', type: 'kubernetes.io/tls', data: [{ objectName: 'web' }] }] });
    const sync: ResolvedKeyVaultSync = { ...asCertificate, objects: asCertificate.objects.map((o) => ({ ...o, type: 'secret' })) };
    const bundle = bundleFromKeyVaultSecret(chain.leaf.keyPem + chain.leaf.certPem, CONTENT_TYPE_PEM);
    const decoded: FetchedMaterial = { kind: 'secret', value: 'not a certificate', decoded: { bundle } };
    expect(renderOutputs(sync, fetchedFor(sync, { web: { material: decoded } })).secrets[0]!.data['tls.crt']!.toString('utf8')).toBe(bundle.certificateChainPem);
    const failed: FetchedMaterial = { kind: 'secret', value: chain.leaf.keyPem + chain.leaf.certPem, decoded: { error: new PkiError('KeyMismatch', 'the private key matches no certificate') } };
    expect(() => renderOutputs(sync, fetchedFor(sync, { web: { material: failed } }))).toThrow(expect.objectContaining({ reason: 'KeyMismatch', object: 'web' }) as Error);
  });
});

describe('renderOutputs: keys, split, shapes, limits, optional', () => {
  it('a key object gives its public key PEM', () => {
    const pem = createPublicKey(chain.leaf.key).export({ type: 'spki', format: 'pem' }) as string;
    const sync = resolve({ objects: [{ name: 'signing', type: 'key' }], configMapObjects: [{ configMapName: 'keys', data: [{ objectName: 'signing', key: 'signing.pub' }] }] });
    const out = renderOutputs(sync, fetchedFor(sync, { signing: { material: { kind: 'publicKey', pem } } }));
    expect(out.configMaps[0]?.data['signing.pub']).toBe(pem);
  });

  it('splits a JSON secret into keys (akv2k8s style)', () => {
    const sync = resolve({ objects: [{ name: 'cfg', type: 'secret', split: 'json' }], secretObjects: [{ secretName: 'cfg', data: [{ objectName: 'cfg' }] }] });
    const [s] = renderOutputs(sync, fetchedFor(sync, { cfg: secret('{"user":"alice","port":5432,"tls":{"on":true}}') })).secrets;
    expect(Object.fromEntries(Object.entries(s!.data).map(([k, v]) => [k, v.toString('utf8')]))).toEqual({ user: 'alice', port: '5432', tls: '{"on":true}' });
  });

  it('a split object that is not JSON fails without quoting the value', () => {
    const sync = resolve({ objects: [{ name: 'cfg', type: 'secret', split: 'json' }], secretObjects: [{ secretName: 'cfg', data: [{ objectName: 'cfg' }] }] });
    expect(() => renderOutputs(sync, fetchedFor(sync, { cfg: secret('TOPSECRET{') }))).toThrow(expect.objectContaining({ reason: 'InvalidSpec', message: expect.not.stringContaining('TOPSECRET') as string }) as Error);
  });

  it('dockerconfigjson must be a docker config; basic-auth keys pass through', () => {
    const sync = resolve({
      objects: [{ name: 'pull', type: 'secret' }, { name: 'user', type: 'secret' }, { name: 'pw', type: 'secret' }],
      secretObjects: [
        { secretName: 'pull', type: 'kubernetes.io/dockerconfigjson', data: [{ objectName: 'pull' }] },
        { secretName: 'basic', type: 'kubernetes.io/basic-auth', data: [{ objectName: 'user', key: 'username' }, { objectName: 'pw', key: 'password' }] },
      ],
    });
    const good = renderOutputs(sync, fetchedFor(sync, { pull: secret('{"auths":{"r.example":{"auth":"eDp5"}}}'), user: secret('u'), pw: secret('p') }));
    expect(Object.keys(good.secrets[0]!.data)).toEqual(['.dockerconfigjson']);
    expect(good.secrets[1]!.data.username?.toString()).toBe('u');
    expect(() => renderOutputs(sync, fetchedFor(sync, { pull: secret('not json'), user: secret('u'), pw: secret('p') }))).toThrow(/Secret "pull": \.dockerconfigjson/);
  });

  it('a Secret over 1 MiB is refused naming the Secret', () => {
    const sync = resolve({ objects: [{ name: 'big', type: 'secret' }], secretObjects: [{ secretName: 'huge', data: [{ objectName: 'big' }] }] });
    expect(() => renderOutputs(sync, fetchedFor(sync, { big: secret('x'.repeat(MAX_OBJECT_DATA_BYTES)) }))).toThrow(expect.objectContaining({ reason: 'InvalidSpec', message: expect.stringContaining('Secret "huge"') as string }) as Error);
  });

  it('leaves out an optional object that was not fetched, and fails for a required one', () => {
    const sync = resolve({
      objects: [{ name: 'a', type: 'secret' }, { name: 'b', type: 'secret', optional: true }],
      secretObjects: [{ secretName: 'out', data: [{ objectName: 'a' }, { objectName: 'b' }] }],
    });
    expect(Object.keys(renderOutputs(sync, fetchedFor(sync, { a: secret('1') })).secrets[0]!.data)).toEqual(['a']);
    expect(() => renderOutputs(sync, fetchedFor(sync, { b: secret('2') }))).toThrow(expect.objectContaining({ reason: 'ObjectNotFound', object: 'a' }) as Error);
  });
});

describe('dataSize', () => {
  it('counts keys and decoded values against the 1 MiB limit', () => {
    expect(dataSize({ ab: Buffer.alloc(10), c: 'dé' })).toBe(2 + 10 + 1 + 3);
    expect(dataSize({ k: Buffer.alloc(MAX_OBJECT_DATA_BYTES) })).toBeGreaterThan(MAX_OBJECT_DATA_BYTES);
  });
});

describe('renderOutputs: templates', () => {
  const spec = (optional: boolean): Record<string, unknown> => ({
    objects: [{ name: 'user' }, { name: 'pw', optional }, { name: 'site', type: 'certificate' }],
    secretObjects: [
      {
        secretName: 'out',
        data: [{ objectName: 'user', key: 'USER' }],
        templates: [
          { key: 'url', template: 'db://{{ user }}:{{ pw | url-query }}@h' },
          { key: 'pem-b64', template: '{{ site | base64 }}' },
        ],
      },
    ],
  });

  it('fills template keys from the objects\' content, next to data keys', () => {
    const sync = resolve(spec(false));
    const { secrets } = renderOutputs(sync, fetchedFor(sync, { user: secret('app'), pw: secret('a b'), site: certificate(pemValue, CONTENT_TYPE_PEM) }));
    const data = secrets[0]!.data;
    expect(Object.keys(data).sort()).toEqual(['USER', 'pem-b64', 'url']);
    expect(data.url!.toString()).toBe('db://app:a%20b@h');
    const pem = Buffer.from(data['pem-b64']!.toString(), 'base64').toString();
    expect(pem).toContain('PRIVATE KEY');
    expect(certsOf(pem)).toHaveLength(2); // leaf and intermediate, as a mounted file holds them
  });

  it('leaves out a template naming a missing optional object, and fails for a missing required one', () => {
    const optional = resolve(spec(true));
    const { secrets } = renderOutputs(optional, fetchedFor(optional, { user: secret('app'), site: certificate(pemValue, CONTENT_TYPE_PEM) }));
    expect(Object.keys(secrets[0]!.data).sort()).toEqual(['USER', 'pem-b64']);
    const required = resolve(spec(false));
    expect(() => renderOutputs(required, fetchedFor(required, { user: secret('app'), site: certificate(pemValue, CONTENT_TYPE_PEM) }))).toThrow(expect.objectContaining({ reason: 'ObjectNotFound' }));
  });

  it('fails with TemplateFailed, naming the Secret and key, when the output would pass 1 MiB', () => {
    const sync = resolve({ objects: [{ name: 'big' }], secretObjects: [{ secretName: 'out', templates: [{ key: 'k', template: '{{ big | hex }}'.repeat(30) }] }] });
    let err: unknown;
    try {
      renderOutputs(sync, fetchedFor(sync, { big: secret('x'.repeat(20_000)) }));
    } catch (e) {
      err = e;
    }
    expect(isSyncError(err) && err.reason).toBe('TemplateFailed');
    expect((err as Error).message).toBe(`Secret "out" key "k": the template would be larger than ${MAX_OBJECT_DATA_BYTES} bytes`);
  });
});
