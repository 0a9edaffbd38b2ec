/**
 * Test helper process: `node rewrite-loop.ts DIR COUNT` rewrites DIR with the atomic writer COUNT times,
 * alternating two payload shapes (generation N: every file holds "gen=N" padded to a fixed size; odd
 * generations add a third file and use another mode). Prints `done N` and exits 0.
 */
import { writeAtomically } from '../atomic-writer.ts';
import type { Payload } from '../atomic-writer.ts';

export const FILE_BYTES = 64 * 1024;

/** The payload of generation `gen`. */
export function generationPayload(gen: number): Payload {
  const body = (name: string): Buffer => {
    const head = `gen=${gen};file=${name};`;
    return Buffer.from(head.padEnd(FILE_BYTES - 1, 'x') + '\n');
  };
  const mode = gen % 2 === 0 ? 0o644 : 0o600;
  const payload: Payload = { 'a.txt': { data: body('a.txt'), mode }, 'nested/b.txt': { data: body('nested/b.txt'), mode } };
  if (gen % 2 === 1) payload['c.txt'] = { data: body('c.txt'), mode };
  return payload;
}

async function main(): Promise<void> {
  const [dir, countText] = process.argv.slice(2);
  if (dir === undefined || countText === undefined) throw new Error('usage: rewrite-loop.ts DIR COUNT');
  const count = Number(countText);
  let changed = 0;
  for (let gen = 1; gen <= count; gen++) {
    if ((await writeAtomically(dir, generationPayload(gen))).changed) changed++;
  }
  process.stdout.write(`done ${changed}\n`);
}

if (process.argv[1]?.endsWith('rewrite-loop.ts') === true) {
  main().catch((err: unknown) => {
    process.stderr.write(`rewrite-loop: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
