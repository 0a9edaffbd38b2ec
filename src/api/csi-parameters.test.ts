import { describe, expect, it } from 'vitest';
import { parseCsiBool, parseCsiParameters } from './csi-parameters.ts';

describe('parseCsiBool (Go strconv.ParseBool)', () => {
  it.each([
    ['true', true], ['True', true], ['TRUE', true], ['1', true], ['t', true],
    ['false', false], ['0', false], ['F', false], ['', false], [undefined, false],
    ['yes', undefined], ['tRuE', undefined],
  ])('%j → %j', (input, expected) => {
    expect(parseCsiBool(input)).toBe(expected);
  });
});

describe('parseCsiParameters: objects', () => {
  it('reads array items given as YAML strings and as mappings, keeping scalars as text', () => {
    const objects = [
      'array:',
      '  - |',
      '    objectName: cert1',
      '    objectType: CERT',
      '    objectVersionHistory: 3',
      '    filePermission: 0640',
      '  - objectName: s1',
      '    objectType: secret',
      '    objectEncoding: base64',
      '    objectFormat: pfx',
      '    objectAlias: ""',
    ].join('\n');
    const out = parseCsiParameters({ objects });
    expect(out.issues).toEqual([]);
    expect(out.parameters.objects?.map((o) => o.object)).toEqual([
      { name: 'cert1', type: 'cert', versionHistory: 3, filePermission: '0640' },
      { name: 's1', type: 'secret', encoding: 'base64', format: 'pfx' },
    ]);
    expect([...(out.parameters.objects?.[1]?.explicit ?? [])]).toEqual(['name', 'type', 'encoding', 'format']);
  });

  it.each([
    ['array: [{objectType: secret}]', 'spec.parameters.objects: array[0].objectName', 'is required'],
    ['array: [{objectName: a}]', 'spec.parameters.objects: array[0].objectType', 'is required'],
    ['array: [{objectName: a, objectType: certificate}]', 'spec.parameters.objects: array[0].objectType', 'must be one of: secret, key, cert'],
    ['array: [{objectName: a, objectType: secret, objectEncoding: rot13}]', 'spec.parameters.objects: array[0].objectEncoding', 'must be one of: utf-8, base64, hex'],
    ['array: [{objectName: "bad name", objectType: secret}]', 'spec.parameters.objects: array[0].objectName', 'must be a Key Vault object name'],
    ['array: [{objectName: a, objectType: secret, objectVersionHistory: many}]', 'spec.parameters.objects: array[0].objectVersionHistory', 'expected integer'],
    ['array: [{objectName: a, objectType: secret, colour: red}]', 'spec.parameters.objects: array[0].colour', 'unknown field'],
    ['array: [{objectName: [a], objectType: secret}]', 'spec.parameters.objects: array[0].objectName', 'must be a string'],
    ['objects: []', 'spec.parameters.objects', 'must be YAML of the form'],
    ['array: [unclosed', 'spec.parameters.objects', 'is not valid YAML'],
    ['array:\n  - "objectName: [x"', 'spec.parameters.objects: array[0]', 'is not valid YAML'],
  ])('%j → %s %s', (objects, path, message) => {
    const out = parseCsiParameters({ objects });
    expect(out.issues.map((i) => i.path)).toContain(path);
    expect(out.issues.find((i) => i.path === path)?.message).toContain(message);
  });

  it('treats empty objects as none and reports duplicate output names later (in parse)', () => {
    expect(parseCsiParameters({ objects: '' }).parameters.objects).toEqual([]);
  });
});

describe('parseCsiParameters: identity and vault', () => {
  it('selects workload identity from clientID alone and ignores empty strings', () => {
    const out = parseCsiParameters({ clientID: ' 11111111-2222-3333-4444-555555555555 ', usePodIdentity: 'false', keyvaultName: '', tenantId: 't' });
    expect(out.parameters).toMatchObject({ identity: { mode: 'workloadIdentity', clientID: '11111111-2222-3333-4444-555555555555' }, keyvaultName: undefined, tenantID: 't' });
  });

  it('selects nothing without flags or clientID (CSI: service principal from nodePublishSecretRef)', () => {
    expect(parseCsiParameters({ keyvaultName: 'kv' }).parameters.identity).toBeUndefined();
  });

  it('prefers tenantID and accepts the legacy tenantId', () => {
    expect(parseCsiParameters({ tenantID: 'a' }).parameters.tenantID).toBe('a');
    expect(parseCsiParameters({ tenantId: 'b' }).parameters.tenantID).toBe('b');
    expect(parseCsiParameters({ tenantID: 'A', tenantId: 'a' }).issues).toEqual([]);
  });

  it('refuses a client ID that is not a GUID and a malformed tenant, naming the parameter but never the value', () => {
    const planted = 'hunter2 is my password';
    const out = parseCsiParameters({ clientID: planted, userAssignedIdentityID: planted, tenantID: `${planted}!`, tenantId: 'contoso.onmicrosoft.com' });
    expect(out.issues.map((i) => i.path).sort()).toEqual(['spec.parameters.clientID', 'spec.parameters.tenantID']);
    expect(JSON.stringify(out.issues)).not.toContain('hunter2');
    expect(out.parameters.identity).toBeUndefined();
    const vm = parseCsiParameters({ useVMManagedIdentity: 'true', userAssignedIdentityID: planted });
    expect(vm.issues).toEqual([{ path: 'spec.parameters.userAssignedIdentityID', message: 'must be a GUID (an Entra client ID)' }]);
  });

  it('reads cloudName case-insensitively, empty meaning public', () => {
    expect(parseCsiParameters({ cloudName: '' }).parameters.cloudName).toBe('AzurePublicCloud');
    expect(parseCsiParameters({ cloudName: 'AZUREUSGOVERNMENTCLOUD' }).parameters.cloudName).toBe('AzureUSGovernmentCloud');
    expect(parseCsiParameters({ cloudName: 'AzureGermanCloud' }).parameters).toMatchObject({ cloudName: undefined, unknownCloudName: 'AzureGermanCloud' });
  });
});
