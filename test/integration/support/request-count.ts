/**
 * Counts the requests a KubeConfig's clients send to the apiserver, from the client's side: every
 * client-node API call and watch goes through `applySecurityAuthentication`, which sees the method and
 * URL. Unlike the apiserver's own `apiserver_request_total`, the count is one controller's alone, so
 * tests running at once on the same control plane do not disturb it.
 */
import type * as k8s from '@kubernetes/client-node';

export interface CountedRequest {
  method: string;
  /** The URL path, without the query. */
  path: string;
}

export interface RequestCounter {
  readonly requests: readonly CountedRequest[];
  /** Forgets what was counted so far. */
  reset(): void;
}

type Authenticate = (context: { getHttpMethod(): string; getUrl(): string }) => Promise<void>;

/** Makes `kc` record each request it authenticates from now on. */
export function countRequests(kc: k8s.KubeConfig): RequestCounter {
  const requests: CountedRequest[] = [];
  const target = kc as unknown as { applySecurityAuthentication: Authenticate };
  const original = target.applySecurityAuthentication.bind(kc);
  target.applySecurityAuthentication = async (context) => {
    requests.push({ method: String(context.getHttpMethod()).toUpperCase(), path: new URL(context.getUrl()).pathname });
    await original(context);
  };
  return {
    requests,
    reset: () => void requests.splice(0),
  };
}
