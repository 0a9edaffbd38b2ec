/**
 * `npm run chaos [-- --duration 10m --seed N --kvs 300 --mounts 4 --out DIR]`
 *
 * The chaos soak: KeyVaultSyncs and mount sidecars under rotations and random, seeded faults, watched by
 * an independent invariant checker; then the time until everything converges. Prints the tables, writes
 * `<out>/latest.json`, exits 1 on a violation or a failure to converge. Never part of the product
 * build. See docs/reliability.md.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseGoDuration } from '../src/api/duration.ts';
import { commitOf } from '../bench/lib/commit.ts';
import { formatReport, writeReport } from './lib/report.ts';
import { newSeed } from './lib/random.ts';
import { runChaos } from './lib/soak.ts';
import { guardTokenRefresh } from '../src/keyvault/token-refresh-guard.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

const USAGE = `usage: npm run chaos -- [flags]

  --duration D        length of the fault phase, Go duration (default 10m)
  --seed N            replay a run's plan, rotations and fault schedule (default: a new seed, printed)
  --kvs N             KeyVaultSyncs (default 300: a fifth TLS Secrets from certificates, the rest Opaque)
  --mounts N          kvsync mount sidecars (default 4)
  --refresh S         refreshInterval in seconds, at least 10 (default 30: two intervals cover the
                      longest cooldown of kvsync's per-vault circuit breaker, 60 s)
  --rotate-every D    one rotation every D, Go duration (default 2s)
  --out DIR           results folder (default chaos/results)`;

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`--${flag} must be a non-negative integer, got "${v}"`);
  return n;
}

function duration(v: string, flag: string): number {
  const ms = parseGoDuration(v);
  if (ms === undefined || ms <= 0) throw new RangeError(`--${flag} must be a positive Go duration such as 10m or 2s, got "${v}"`);
  return ms;
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        duration: { type: 'string', default: '10m' },
        seed: { type: 'string' },
        kvs: { type: 'string', default: '300' },
        mounts: { type: 'string', default: '4' },
        refresh: { type: 'string', default: '30' },
        'rotate-every': { type: 'string', default: '2s' },
        out: { type: 'string', default: join(root, 'chaos', 'results') },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`chaos: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  const refreshSeconds = positiveInt(values.refresh, 'refresh');
  if (refreshSeconds < 10) throw new RangeError('--refresh must be at least 10 (the CRD minimum refreshInterval)');
  const seed = values.seed === undefined ? newSeed() : positiveInt(values.seed, 'seed');
  const started = Date.now();
  const progress = (line: string): void => {
    process.stderr.write(`[chaos +${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
  };
  // The run's own writer uses the Azure SDK's clients too: an Entra ID outage must not end the run.
  guardTokenRefresh({ warn: (obj, msg) => progress(`writer: ${msg} (${String(obj.error)})`) });
  progress(`seed ${seed} (replay with --seed ${seed})`);
  const startedAt = new Date().toISOString();
  const results = await runChaos({
    durationMs: duration(values.duration, 'duration'),
    seed,
    kvs: positiveInt(values.kvs, 'kvs'),
    mounts: positiveInt(values.mounts, 'mounts'),
    refreshSeconds,
    rotateEveryMs: duration(values['rotate-every'], 'rotate-every'),
    cli: join(root, 'src', 'cli.ts'),
    progress,
  });
  const report = {
    command: `npm run chaos${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    commit: commitOf(root),
    startedAt,
    finishedAt: new Date().toISOString(),
    environment: {
      node: process.version,
      cpus: `${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}`,
      memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
      'load average at end': loadavg().map((l) => l.toFixed(2)).join(' '),
    },
    ...results,
  };
  const file = join(resolve(values.out), 'latest.json');
  await writeReport(report, file);
  console.log(formatReport(report));
  progress(`results: ${file}`);
  return results.passed ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
