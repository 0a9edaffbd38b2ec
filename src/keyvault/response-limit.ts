/**
 * A bound on the size of every Azure response body. The Azure SDK reads a whole body into memory,
 * after undoing any gzip or deflate encoding, whatever its length: a vault host that answers with
 * gigabytes (or a small gzip bomb) would take the process's memory. Key Vault values are at most
 * 25 KiB and token responses a few KiB, so {@link MAX_AZURE_RESPONSE_BYTES} leaves ample room.
 *
 * The policy counts the decoded bytes as they arrive (the SDK's download progress) and, once the bound
 * is passed, aborts the request and fails the read, so no more than the bound (plus one chunk) is
 * ever held.
 */
import type { PipelinePolicy } from '@azure/core-rest-pipeline';

/** The largest response body kvsync reads from Key Vault, Entra ID or IMDS (after decompression). */
export const MAX_AZURE_RESPONSE_BYTES = 1024 * 1024;

/** `tooLarge(host)` is thrown instead of the SDK's abort error when a body passes `maxBytes`. */
export function responseLimitPolicy(maxBytes: number, tooLarge: (host: string) => Error): PipelinePolicy {
  return {
    name: 'kvsyncResponseLimit',
    sendRequest: async (request, next) => {
      const originalSignal = request.abortSignal;
      const originalProgress = request.onDownloadProgress;
      // Aborts when the caller's signal does, or when the body passes the bound.
      const limit = new AbortController();
      const follow = (): void => limit.abort();
      if (originalSignal?.aborted === true) limit.abort();
      originalSignal?.addEventListener('abort', follow);
      let exceeded = false;
      request.abortSignal = limit.signal;
      request.onDownloadProgress = (progress) => {
        originalProgress?.(progress);
        if (progress.loadedBytes > maxBytes) {
          exceeded = true;
          // Closes the connection; the throw ends the SDK's read of the body, which would otherwise
          // wait for an end the aborted response never signals.
          limit.abort();
          throw new Error('response body over the limit');
        }
      };
      try {
        const response = await next(request);
        if (exceeded) throw tooLarge(new URL(request.url).host);
        return response;
      } catch (err) {
        if (exceeded) throw tooLarge(new URL(request.url).host);
        throw err;
      } finally {
        // The retry policy sends the same request object again.
        originalSignal?.removeEventListener('abort', follow);
        request.abortSignal = originalSignal;
        request.onDownloadProgress = originalProgress;
      }
    },
  };
}
