/**
 * The worker thread of decode-pool.ts: builds TLS bundles from Key Vault secret values, one job at a
 * time, so that PKCS#12 key derivation never runs on the event loop that renews the lease and answers
 * the webhook and the probes. A job's failure is sent back as a PkiError's reason and message only.
 */
import { parentPort } from 'node:worker_threads';
import { bundleFromKeyVaultSecret } from './bundle.ts';
import { isPkiError } from './errors.ts';
import type { DecodeJob, DecodeReply } from './decode-pool.ts';

const port = parentPort;
if (port === null) throw new Error('decode-worker.ts runs as a worker thread only');

port.on('message', (job: DecodeJob) => {
  let reply: DecodeReply;
  try {
    reply = { id: job.id, ok: true, bundle: bundleFromKeyVaultSecret(job.value, job.contentType, job.options) };
  } catch (err) {
    // Anything but a PkiError gets our own text: other errors could quote the input.
    reply = isPkiError(err) ? { id: job.id, ok: false, reason: err.reason, message: err.message } : { id: job.id, ok: false, reason: 'InvalidCertificate', message: 'the certificate could not be decoded' };
  }
  port.postMessage(reply);
});
port.postMessage({ ready: true } satisfies DecodeReply);
