/**
 * Flag parsing for a subcommand, with the house conventions: a bad flag prints
 * `kvsync <command>: <why>` and the usage to stderr (exit 2); `--help`/`-h` prints the usage to stdout
 * (exit 0). Returns the parsed flags, or the exit code when the command should stop there.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export function parseCommandArgs<T extends ParseArgsConfig>(command: string, usage: string, config: T): ReturnType<typeof parseArgs<T>> | number {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    console.error(`kvsync ${command}: ${err instanceof Error ? err.message : String(err)}\n\n${usage}`);
    return 2;
  }
  if ((parsed.values as Record<string, unknown>).help === true) {
    console.log(usage);
    return 0;
  }
  return parsed;
}
