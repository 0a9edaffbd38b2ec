/** The `kvsync controller --eventgrid-*` flags → {@link EventGridOptions}. */
import { parseHostPort } from '../controller/health.ts';
import type { EventGridOptions } from './start.ts';

export interface EventGridFlags {
  'eventgrid-addr'?: string | undefined;
  'eventgrid-path'?: string | undefined;
  'eventgrid-cert-dir'?: string | undefined;
  'eventgrid-key-file'?: string | undefined;
  'eventgrid-audience'?: string | undefined;
  'eventgrid-tenant-id'?: string | undefined;
  'eventgrid-client-id'?: string | undefined;
  'eventgrid-pod'?: string | undefined;
}

export const EVENTGRID_FLAGS = ['eventgrid-addr', 'eventgrid-path', 'eventgrid-cert-dir', 'eventgrid-key-file', 'eventgrid-audience', 'eventgrid-tenant-id', 'eventgrid-client-id', 'eventgrid-pod'] as const;

export const EVENTGRID_USAGE = `  Event Grid push refresh (off unless --eventgrid-addr is given; served on every replica, the leader refreshes):
  --eventgrid-addr ADDR    serve the endpoint on ADDR, e.g. 0.0.0.0:8443 (path /eventgrid)
  --eventgrid-path PATH    URL path (default /eventgrid)
  --eventgrid-cert-dir DIR tls.crt/tls.key: serve HTTPS (default plain HTTP behind a TLS-terminating ingress)
  --eventgrid-key-file FILE
                           shared key (>= 16 characters) Event Grid sends as aeg-sas-key header or ?code=
  --eventgrid-audience AUD[,AUD]
                           accept Entra tokens for these audiences (app ID URI / client ID)
  --eventgrid-tenant-id ID tenant of those tokens (default AZURE_TENANT_ID)
  --eventgrid-client-id ID[,ID]
                           only tokens of these applications (appid/azp), e.g. Event Grid's own;
                           required with --eventgrid-audience
  --eventgrid-pod NAME     this replica's pod (operator namespace, e.g. $(POD_NAME)): the leader labels it
                           kvsync.dev/eventgrid-leader=true for a leader-only Service
  At least one of --eventgrid-key-file and --eventgrid-audience is required.`;

function list(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const items = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return items.length === 0 ? undefined : items;
}

/**
 * The flags as options; undefined when `--eventgrid-addr` is absent.
 * @throws RangeError on a flag without `--eventgrid-addr`, a malformed address or path, or no authentication.
 */
export function eventGridOptions(flags: EventGridFlags): EventGridOptions | undefined {
  const addr = flags['eventgrid-addr'];
  if (addr === undefined) {
    const stray = EVENTGRID_FLAGS.find((f) => flags[f] !== undefined);
    if (stray !== undefined) throw new RangeError(`--${stray} needs --eventgrid-addr`);
    return undefined;
  }
  parseHostPort(addr);
  const path = flags['eventgrid-path'];
  if (path !== undefined && !/^\/[A-Za-z0-9._~\-/]*$/.test(path)) throw new RangeError(`--eventgrid-path: not a URL path: "${path}"`);
  const audiences = list(flags['eventgrid-audience']);
  const clientIds = list(flags['eventgrid-client-id']);
  const keyFile = flags['eventgrid-key-file'];
  if (keyFile === undefined && audiences === undefined) throw new RangeError('--eventgrid-addr needs --eventgrid-key-file and/or --eventgrid-audience');
  const pod = flags['eventgrid-pod'];
  if (pod !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(pod)) throw new RangeError(`--eventgrid-pod: not a pod name: "${pod}"`);
  if (audiences === undefined && (flags['eventgrid-tenant-id'] !== undefined || clientIds !== undefined)) {
    throw new RangeError('--eventgrid-tenant-id and --eventgrid-client-id need --eventgrid-audience');
  }
  // Every application of the tenant can get a token for an audience it knows: trust only those listed.
  if (audiences !== undefined && clientIds === undefined) throw new RangeError('--eventgrid-audience needs --eventgrid-client-id (the applications allowed to deliver, e.g. Event Grid\'s own)');
  return {
    addr,
    ...(path === undefined ? {} : { path }),
    ...(flags['eventgrid-cert-dir'] === undefined ? {} : { certDir: flags['eventgrid-cert-dir'] }),
    ...(keyFile === undefined ? {} : { keyFile }),
    ...(audiences === undefined ? {} : { audiences }),
    ...(flags['eventgrid-tenant-id'] === undefined ? {} : { tenantId: flags['eventgrid-tenant-id'] }),
    ...(clientIds === undefined ? {} : { allowedClientIds: clientIds }),
    ...(pod === undefined ? {} : { leaderPod: pod }),
  };
}
