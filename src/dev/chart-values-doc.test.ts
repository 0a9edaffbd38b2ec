import { describe, expect, it } from 'vitest';
import { renderedDoc, valuesTable } from './chart-values-doc.ts';

describe('docs/chart.md values table', () => {
  it('matches charts/kvsync/values.schema.json and values.yaml (run node src/dev/chart-values-doc.ts to update)', async () => {
    const { current, wanted } = await renderedDoc();
    expect(current).toBe(wanted);
  });

  it('lists leaves with type, default and description, walking into declared objects', () => {
    const table = valuesTable(
      {
        properties: {
          image: { type: 'object', properties: { tag: { type: 'string', description: 'Tag | or digest.' } } },
          logLevel: { type: 'string', enum: ['info', 'debug'], description: 'Level.' },
          resources: { type: 'object', description: 'Free-form.' },
          limit: { type: 'integer', description: 'Unset by default.' },
        },
      },
      { image: { tag: '' }, logLevel: 'info', resources: { requests: { cpu: '50m' } } },
    );
    expect(table.split('\n')).toEqual([
      '| value | type | default | description |',
      '| --- | --- | --- | --- |',
      '| `image.tag` | string | `""` | Tag \\| or digest. |',
      '| `logLevel` | `info`, `debug` | `"info"` | Level. |',
      '| `resources` | object | `{"requests":{"cpu":"50m"}}` | Free-form. |',
      '| `limit` | integer | (unset) | Unset by default. |',
    ]);
  });
});
