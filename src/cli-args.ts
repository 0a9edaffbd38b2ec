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
    console.error(`kvsync ${command}: ${describeParseArgsError(err)}\n\n${usage}`);
    return 2;
  }
  if ((parsed.values as Record<string, unknown>).help === true) {
    console.log(usage);
    return 0;
  }
  return parsed;
}

/**
 * node:util parseArgs' error in a few words naming the flag. Its own messages are written for
 * programmers (`Unknown option '--x'. To specify a positional argument starting with a '-', place it at
 * the end of the command after '--', as in '-- "--x"`).
 */
export function describeParseArgsError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown flag ${quoted}`;
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument "${quoted}"`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = quoted.split(' ')[0] ?? quoted;
    return /does not take an argument/.test(message) ? `${flag} takes no value` : `${flag} needs a value`;
  }
  return message;
}
