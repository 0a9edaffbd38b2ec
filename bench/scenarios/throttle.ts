/**
 * Scenario 5: the emulator throttles one vault to L requests per 10 s; a smaller fleet (throttleN
 * KeyVaultSyncs over throttleObjects objects, so the cold start alone needs more than one window)
 * must converge without kvsync exceeding the limit. The emulator's counters are sampled every second:
 * 429 answers (the emulator's own verdict per window) and the most requests in any 10 s span.
 */
import { countOf, VAULTS } from '../lib/emulator.ts';
import { kvsSpec, planSyncs } from '../lib/kube.ts';
import { maxInWindow, seconds, type CounterSample } from '../lib/stats.ts';
import { sleep, vaultRef, type BenchContext } from './context.ts';

const NS = 'bench-throttle';

/** The controller flag that sets its per-vault request budget, if this build has one. */
export function limiterFlag(flags: ReadonlySet<string>): string | undefined {
  return [...flags].find((f) => /requests-per-10s|vault-rate|vault-requests/.test(f));
}

export async function runThrottle(ctx: BenchContext): Promise<void> {
  const { params, kube, emulator } = ctx;
  const limit = params.throttleLimit;
  const flag = limiterFlag(ctx.controllerFlags);
  await kube.createNamespace(NS);
  await kube.createCredentials(NS, ctx.plan.lister);
  const controller = await ctx.startController('controller-throttle', NS, flag === undefined ? [] : [`--${flag}`, String(limit)]);
  const tracker = await kube.trackReady(NS);
  const samples: CounterSample[] = [];
  const throttled: CounterSample[] = [];
  let sampling = true;
  const vault = VAULTS.throttle;
  // Authenticated requests only: the emulator throttles those; the SDK's 401 challenge is not throttled.
  const authenticated = (c: { status: number }): boolean => c.status !== 401;
  const sampler = (async () => {
    while (sampling) {
      const counts = await emulator.admin.requests();
      const atMs = Date.now();
      samples.push({ atMs, value: countOf(counts, vault, authenticated) });
      throttled.push({ atMs, value: countOf(counts, vault, (c) => c.status === 429) });
      await sleep(1000);
    }
  })();
  try {
    await emulator.admin.setThrottling(vault, limit);
    await emulator.admin.resetRequests();
    const plans = planSyncs('thr', params.throttleN, ctx.plan.throttleObjects, params.objectsPerKvs);
    ctx.progress(`throttle: ${plans.length} KeyVaultSyncs over ${ctx.plan.throttleObjects.length} objects, vault limited to ${limit} requests / 10 s${flag === undefined ? '' : `, controller --${flag} ${limit}`}`);
    const t0 = Date.now();
    await kube.createSyncs(NS, plans.map((p) => ({ name: p.name, spec: kvsSpec(p, vaultRef(ctx, vault), `${params.refreshSeconds}s`) })), params.createConcurrency);
    let converged = true;
    let failure = '';
    try {
      await tracker.waitAll(plans.map((p) => p.name), 900_000, (ready) => ctx.progress(`throttle: ${ready}/${plans.length} Ready after ${seconds(Date.now() - t0)}`));
    } catch (err) {
      converged = false;
      failure = err instanceof Error ? err.message : String(err);
    }
    const convergeMs = Math.max(...tracker.readyAt.values()) - t0;
    ctx.progress(`throttle: ${converged ? `all Ready after ${seconds(convergeMs)}` : failure}; observing two more refresh cycles`);
    await sleep(2 * params.refreshSeconds * 1000);
    sampling = false;
    await sampler;
    const counts = await emulator.admin.requests();
    const maxWindow = maxInWindow(samples, 10_000);
    const total429 = countOf(counts, vault, (c) => c.status === 429);
    const totalAuth = countOf(counts, vault, authenticated);
    const observedMs = (samples.at(-1)?.atMs ?? t0) - (samples[0]?.atMs ?? t0);
    const reads = countOf(counts, vault, (c) => c.operation === 'getSecret' && c.status === 200);
    const distinct = new Set(plans.flatMap((p) => p.objects)).size;
    const readsNote = `${reads} value reads (getSecret 200) for ${distinct} distinct objects${reads > distinct ? ' (reads waiting for the budget outlive the 2 s cache of a latest read, so KeyVaultSyncs sharing an object read it again)' : ''}`;
    ctx.details.throttle = { limit, limiterFlag: flag, converged, convergeMs, failure, maxIn10s: maxWindow, total429, totalAuthenticated: totalAuth, observedMs, counts: counts.filter((c) => c.vault === vault), samples };
    ctx.progress(`throttle: max ${maxWindow} requests in any 10 s, ${total429} answered 429, ${totalAuth} authenticated requests in ${seconds(observedMs)}`);
    const how = flag === undefined ? 'the controller has no per-vault limit flag in this build (its default budget applies)' : `controller --${flag} ${limit}`;
    ctx.rows.push({
      scenario: `5. vault throttled to ${limit} / 10 s, N=${params.throttleN}`,
      figure: 'most requests in any 10 s span; 429 answers',
      value: `${maxWindow}; ${total429} × 429`,
      baseline: '—',
      target: `≤ ${limit}; no 429`,
      met: maxWindow <= limit && total429 === 0,
      notes: `${how}; sampled the emulator's counters every 1 s for ${seconds(observedMs)} (authenticated requests; the SDK's 401 challenges are not throttled), ${totalAuth} in total; the emulator's 429 count is its own per-window verdict`,
    });
    ctx.rows.push({
      scenario: `5. vault throttled to ${limit} / 10 s, N=${params.throttleN}`,
      figure: 'every KeyVaultSync converges',
      value: converged ? `all ${params.throttleN} Ready after ${seconds(convergeMs)}` : failure,
      baseline: '—',
      target: 'all Ready',
      met: converged,
      notes: `${params.throttleN} KeyVaultSyncs × ${params.objectsPerKvs} of ${ctx.plan.throttleObjects.length} objects, each object shared by ${Math.round((params.throttleN * params.objectsPerKvs) / distinct)}; smaller N than scenarios 1–3 so that the run stays short; ${readsNote}`,
    });
  } finally {
    sampling = false;
    await sampler.catch(() => undefined);
    await tracker.stop();
    await controller.stop();
    await kube.deleteNamespace(NS);
  }
}
