/**
 * Go duration strings (`time.ParseDuration`), as used by `spec.refreshInterval`: a sequence of
 * decimal numbers with units ns, us (µs), ms, s, m, h, e.g. `90s`, `1h30m`, `1.5h`; `"0"` alone is
 * zero. The Kubernetes CEL `duration()` function accepts the same syntax, so the CRD and this parser
 * agree.
 */

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The OpenAPI pattern of a Go duration (sign omitted: negative intervals make no sense here). */
export const GO_DURATION_PATTERN = '^(0|([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h)(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h))*)$';

/** Parses a Go duration into milliseconds; returns `undefined` when the text is not one. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (!new RegExp(GO_DURATION_PATTERN).test(text)) return undefined;
  let total = 0;
  // µ and μ as escapes: the bundler keeps a regular expression's characters as written (scripts/build.ts).
  for (const m of text.matchAll(/([0-9]*\.?[0-9]*)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/g)) {
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? Number.NaN);
  }
  return Number.isFinite(total) ? total : undefined;
}
