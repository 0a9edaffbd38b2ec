/**
 * Every Azure response body is read here, not by the SDK, with two bounds:
 * - **size**: the SDK reads a whole body into memory whatever its length, so a vault host that answers
 *   with gigabytes would take the process's memory. Key Vault values are at most 25 KiB and token
 *   responses a few KiB: reading stops (the connection is closed) once {@link MAX_AZURE_RESPONSE_BYTES}
 *   is passed;
 * - **completeness**: a body whose connection closes before its end (a full Content-Length, half the
 *   body, then FIN or RST) fails at once as a connection reset (`ECONNRESET`) the SDK
 *   retries and the vault's breaker counts like any other. Read by the SDK through a stream piped from
 *   the socket's, such a body never ended and was noticed only at the request deadline.
 *
 * Bodies are asked for without content coding (`Accept-Encoding: identity`): nothing is inflated, so
 * the bound counts the bytes received and a gzip bomb is only its own few bytes (which are not JSON).
 */
import { Readable } from 'node:stream';
import { RestError, type PipelinePolicy, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';

/** The largest response body kvsync reads from Key Vault, Entra ID or IMDS. */
export const MAX_AZURE_RESPONSE_BYTES = 1024 * 1024;

/** The HTTP status of each answer whose body was cut off, by its error (RestError fixes its own prototype: no subclass). */
const cutOff = new WeakMap<object, number>();

/**
 * The error of a body cut off before its end: a RestError with Node's code for a lost connection
 * (`ECONNRESET`), so the SDK's retry policy and the vault's breaker treat it as they treat a reset.
 */
function bodyCutOff(request: PipelineRequest, status: number): RestError {
  const err = new RestError('the answer was cut off before its end: the connection closed', { code: 'ECONNRESET', request });
  cutOff.set(err, status);
  return err;
}

/** For an answer whose body was cut off, its HTTP status; undefined for any other error. */
export function cutOffStatusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null ? cutOff.get(err) : undefined;
}

type BodyRead = { bytes: Buffer } | { fault: 'tooLarge' | 'cutOff' | 'aborted' };

/** The part of a request's abort signal read here (the SDK's requests carry an `AbortSignalLike`). */
interface AbortSignalLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Reads `body` to its end, up to `maxBytes`; a body closed or failed before its end is `cutOff`. */
function readBody(body: NodeJS.ReadableStream, maxBytes: number, signal: AbortSignalLike | undefined): Promise<BodyRead> {
  const stream = body as Readable;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    const finish = (read: BodyRead): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      stream.off('data', onData);
      if (!('bytes' in read)) stream.destroy();
      resolve(read);
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      length += bytes.length;
      if (length > maxBytes) finish({ fault: 'tooLarge' });
      else chunks.push(bytes);
    };
    const onAbort = (): void => finish({ fault: 'aborted' });
    // An error or a close before `end`: the connection went away mid-body. (The listener stays, so a
    // late error of a destroyed stream is never unhandled.)
    const onCut = (): void => finish(signal?.aborted === true ? { fault: 'aborted' } : { fault: 'cutOff' });
    if (signal?.aborted === true) return finish({ fault: 'aborted' });
    signal?.addEventListener('abort', onAbort);
    stream.on('data', onData);
    stream.once('end', () => finish({ bytes: Buffer.concat(chunks, length) }));
    stream.on('error', onCut);
    stream.once('close', onCut);
    // Gone before this read began (its close already told): cut off all the same.
    if (stream.destroyed && !stream.readableEnded) onCut();
  });
}

const abortError = (): Error => Object.assign(new Error('the request was aborted while its answer was read'), { name: 'AbortError' });

/** `tooLarge(host)` is thrown when a body passes `maxBytes`; a body cut off throws a reset ({@link cutOffStatusOf}). */
export function responseLimitPolicy(maxBytes: number, tooLarge: (host: string) => Error): PipelinePolicy {
  return {
    name: 'kvsyncResponseLimit',
    sendRequest: async (request, next) => {
      const wanted = request.streamResponseStatusCodes;
      const encoding = request.headers.get('Accept-Encoding');
      // Every status: the HTTP client hands each body over as the socket's stream, for readBody.
      request.streamResponseStatusCodes = new Set([Number.POSITIVE_INFINITY]);
      request.headers.set('Accept-Encoding', 'identity');
      let response: PipelineResponse;
      try {
        response = await next(request);
      } finally {
        // The retry policy sends the same request object again.
        request.streamResponseStatusCodes = wanted;
        if (encoding === undefined) request.headers.delete('Accept-Encoding');
        else request.headers.set('Accept-Encoding', encoding);
      }
      const body = response.readableStreamBody;
      if (body === undefined) return response;
      const read = await readBody(body, maxBytes, request.abortSignal);
      if ('fault' in read) {
        if (read.fault === 'tooLarge') throw tooLarge(new URL(request.url).host);
        if (read.fault === 'aborted') throw abortError();
        throw bodyCutOff(request, response.status);
      }
      // A caller that asked for this status as a stream gets the bounded body as one.
      if (wanted?.has(response.status) === true || wanted?.has(Number.POSITIVE_INFINITY) === true) {
        response.readableStreamBody = Readable.from([read.bytes]);
      } else {
        response.readableStreamBody = undefined;
        response.bodyAsText = read.bytes.toString('utf8');
      }
      return response;
    },
  };
}
