/**
 * Secret types kvsync never creates or writes into, whatever the spec says, and why. Every other type
 * string is written as given (the CSI driver accepts any: Istio's `tls` and `opaque`, `kubernetes.io/
 * ssh-auth`, …). These three make the Secret's writer able to act as someone else:
 * - `kubernetes.io/service-account-token`: the token controller fills such a Secret with a token of
 *   the ServiceAccount it names, so writing one mints credentials for any ServiceAccount of the
 *   namespace (legacy tokens that never expire);
 * - `bootstrap.kubernetes.io/token`: in kube-system it authenticates as a node bootstrapper, which
 *   may obtain node credentials;
 * - `helm.sh/release.v1`: Helm's release record; a forged one is what the next `helm upgrade` or
 *   `helm rollback` reads as the deployed manifests.
 * Compared case-insensitively: no spelling of them is a type anyone needs.
 */
export const PROTECTED_SECRET_TYPES: readonly string[] = ['kubernetes.io/service-account-token', 'bootstrap.kubernetes.io/token', 'helm.sh/release.v1'];

/** Whether kvsync refuses to write a Secret of this type. */
export function isProtectedSecretType(type: string): boolean {
  return PROTECTED_SECRET_TYPES.includes(type.toLowerCase());
}

/**
 * Keys the apiserver requires in a Secret of a built-in type (core validation), checked when the spec
 * is parsed so the spec is refused before anything is written. `kubernetes.io/tls` and
 * `kubernetes.io/basic-auth` have their own checks, with kvsync's key inference.
 */
export const REQUIRED_SECRET_KEYS: Readonly<Record<string, string>> = {
  'kubernetes.io/ssh-auth': 'ssh-privatekey',
  'kubernetes.io/dockercfg': '.dockercfg',
  'kubernetes.io/dockerconfigjson': '.dockerconfigjson',
};
