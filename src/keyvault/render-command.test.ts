import { describe, expect, it } from 'vitest';
import { configMapManifest, secretManifest } from './render-command.ts';

describe('render manifests', () => {
  const secret = { name: 'db', type: 'Opaque', labels: { 'app.kubernetes.io/managed-by': 'kvsync' }, annotations: {}, creationPolicy: 'Owner' as const, data: { PASSWORD: Buffer.from('hunter2') } };

  it('redacts values by default, giving only their size', () => {
    const m = secretManifest(secret, 'shop', false);
    expect(m).toMatchObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'shop' }, type: 'Opaque', data: { PASSWORD: '<redacted: 7 bytes>' } });
    expect(JSON.stringify(m)).not.toContain('hunter2');
    expect(JSON.stringify(m)).not.toContain(Buffer.from('hunter2').toString('base64'));
  });

  it('shows base64 values with --show-values', () => {
    expect(secretManifest(secret, undefined, true).data).toEqual({ PASSWORD: Buffer.from('hunter2').toString('base64') });
  });

  it('prints ConfigMaps (public material) as they are', () => {
    expect(configMapManifest({ name: 'ca', labels: {}, annotations: {}, creationPolicy: 'Owner', data: { 'ca.crt': 'PEM' } }, 'shop')).toMatchObject({ kind: 'ConfigMap', data: { 'ca.crt': 'PEM' } });
  });
});
