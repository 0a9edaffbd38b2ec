import { describe, expect, it } from 'vitest';
import { parseCloudName, vaultDnsSuffix } from './cloud.ts';
import { parseGoDuration } from './duration.ts';

describe('parseGoDuration', () => {
  it.each([
    ['0', 0], ['10s', 10_000], ['5m', 300_000], ['1h30m', 5_400_000], ['1.5h', 5_400_000], ['.5s', 500], ['250ms', 250], ['1h0m0s', 3_600_000], ['1000us', 1], ['1000µs', 1],
  ])('%s = %d ms', (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 6);
  });

  it.each(['', '5', '-5m', '5 m', '1d', 'm', '1h-5m'])('%j is not a duration', (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });
});

describe('clouds', () => {
  it('maps cloud names to vault DNS suffixes', () => {
    expect(vaultDnsSuffix('AzurePublicCloud')).toBe('vault.azure.net');
    expect(vaultDnsSuffix('AzureUSGovernmentCloud')).toBe('vault.usgovcloudapi.net');
    expect(vaultDnsSuffix('AzureChinaCloud')).toBe('vault.azure.cn');
  });

  it('parses names like the CSI provider', () => {
    expect(parseCloudName('')).toBe('AzurePublicCloud');
    expect(parseCloudName('azurechinacloud')).toBe('AzureChinaCloud');
    expect(parseCloudName('AzureStackCloud')).toBeUndefined();
  });
});
