/** How an error goes into a log line: its name (or kvsync reason), status code and first line. */
import * as k8s from '@kubernetes/client-node';
import { isKvsyncError } from '../util/errors.ts';

/** An error's name, status code and first line — never a request/response body. */
export function errorSummary(err: unknown): { name: string; code?: number; message: string } {
  if (err instanceof k8s.ApiException) return { name: 'ApiException', code: err.code, message: `HTTP ${err.code}` };
  if (err instanceof Error) {
    return { name: isKvsyncError(err) ? err.reason : err.name, message: (err.message.split('\n')[0] ?? '').slice(0, 300) };
  }
  return { name: typeof err, message: '' };
}
