/**
 * The processes' logger: pino, writing JSON lines (one object per line, for log pipelines) or, for a
 * person at a terminal, one readable line per record (`12:03:04 WARN  kvsync-controller: msg key=value`).
 * `auto` picks text when the log's destination (stdout) is a terminal, JSON otherwise.
 */
import { pino, type Logger } from 'pino';

export const LOG_FORMATS = ['auto', 'json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export function isLogFormat(value: string): value is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(value);
}

/** The usage line shared by the commands that log. */
export const LOG_FORMAT_USAGE = '--log-format FORMAT      json, text, or auto (default: text on a terminal, else JSON)';

interface LineSink {
  write(line: string): void;
}

export interface LoggerOptions {
  name: string;
  level: string;
  format?: LogFormat;
  /** Where lines go; default stdout (and `auto` asks whether it is a terminal). */
  destination?: LineSink & { isTTY?: boolean };
}

export function createLogger(opts: LoggerOptions): Logger {
  const options = { name: opts.name, level: opts.level };
  const format = opts.format ?? 'auto';
  const text = format === 'text' || (format === 'auto' && (opts.destination ?? process.stdout).isTTY === true);
  if (text) {
    const destination = opts.destination ?? process.stdout;
    return pino(options, { write: (line: string) => destination.write(formatLine(line)) });
  }
  // pino's own stdout writer unless a destination is given.
  return opts.destination === undefined ? pino(options) : pino(options, opts.destination);
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every record has, shown in the line's head or not at all. */
const HEAD_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

/** One pino JSON line → `HH:MM:SS LEVEL name: msg key=value …` (values that need it JSON-quoted). */
export function formatLine(jsonLine: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine;
  }
  const time = typeof record.time === 'number' ? new Date(record.time).toISOString().slice(11, 19) : '';
  const level = (typeof record.level === 'number' ? LEVELS[record.level] : undefined) ?? String(record.level);
  const name = typeof record.name === 'string' ? `${record.name}: ` : '';
  const fields = Object.entries(record)
    .filter(([key]) => !HEAD_FIELDS.has(key))
    .map(([key, value]) => `${key}=${formatValue(value)}`);
  return `${[time, level.padEnd(5), `${name}${typeof record.msg === 'string' ? record.msg : formatValue(record.msg ?? '')}`, ...fields].filter((p) => p !== '').join(' ')}\n`;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[\w./:@-]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}
