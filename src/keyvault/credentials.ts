/**
 * Identity → Azure credential, for every identity mode of a KeyVaultSync (docs/identities.md):
 *
 * - servicePrincipal: client ID / secret from a Secret in the KeyVaultSync's namespace →
 *   ClientSecretCredential.
 * - workloadIdentity: a TokenRequest for the named ServiceAccount in the KeyVaultSync's OWN namespace
 *   (audience api://AzureADTokenExchange), exchanged by ClientAssertionCredential. The SA token is kept
 *   in memory and re-requested before it expires; nothing is written to disk.
 * - podIdentity / managedIdentity: only through a KeyVaultIdentity that grants the namespace and the
 *   vault; token from IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST honoured) through {@link ImdsCredential}.
 *
 * Credentials are cached per identity key and reused across reconciles; the Azure SDK credentials and
 * ImdsCredential refresh access tokens before they expire.
 */
import { createHash } from 'node:crypto';
import { ClientAssertionCredential, ClientSecretCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/identity';
import { CoreV1Api, Observable } from '@kubernetes/client-node';
import type { ConfigurationOptions, KubeConfig } from '@kubernetes/client-node';
import { isGuid, isTenantId } from '../api/azure-ids.ts';
import { sharedIdentityDenial } from '../api/identity-grant.ts';
import type { ResolvedKeyVaultIdentity } from '../api/parse.ts';
import type { ResolvedKeyVaultSync } from '../api/resolved.ts';
import { credentialOptions, requestTimeoutMs } from './azure-environment.ts';
import type { AzureEnvironment } from './azure-environment.ts';
import { durationText, withDeadline } from '../util/deadline.ts';
import { SyncError, isSyncError } from './errors.ts';
import { ImdsCredential } from './imds-credential.ts';
import { BoundedCredential, DEFAULT_REQUEST_TIMEOUT_MS } from './request-deadline.ts';

export const WORKLOAD_IDENTITY_AUDIENCE = 'api://AzureADTokenExchange';
export const CLIENT_ID_ANNOTATION = 'azure.workload.identity/client-id';
export const TENANT_ID_ANNOTATION = 'azure.workload.identity/tenant-id';
/** Lifetime asked for ServiceAccount tokens (the apiserver may shorten it). */
const SA_TOKEN_SECONDS = 3600;

export interface CredentialContext {
  /** The KeyVaultSync's namespace. */
  namespace: string;
  /** Every KeyVaultIdentity in the cluster (for podIdentity / managedIdentity). */
  identities: ResolvedKeyVaultIdentity[];
  /** The namespace's labels, when the caller has them (else the Namespace is read). */
  namespaceLabels?: Readonly<Record<string, string>>;
}

/**
 * How logs name an identity: the first 12 hex digits of the SHA-256 of its key. Equal identities log
 * alike, and the log says nothing about the identity key (a client ID read from a Secret, a Secret's
 * name and resourceVersion).
 */
export function identityLogId(identityKey: string): string {
  return createHash('sha256').update(identityKey).digest('hex').slice(0, 12);
}

export interface CredentialFor {
  credential: TokenCredential;
  /** Stable key of the identity: equal keys share a credential (and Key Vault clients). */
  identityKey: string;
}

/** The subset of CoreV1Api used here (a test can substitute it). */
export type CoreApi = Pick<CoreV1Api, 'readNamespacedSecret' | 'readNamespacedServiceAccount' | 'createNamespacedServiceAccountToken' | 'readNamespace'>;

/** How messages name Entra ID: its host, never a client ID or secret. */
function entraSource(authorityHost: string): string {
  return `Microsoft Entra ID (${new URL(authorityHost).host})`;
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** Client options that make a Kubernetes API call end (request and response body) when `signal` fires. */
function abortedBy(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (context) => {
          context.setSignal(signal);
          return new Observable(Promise.resolve(context));
        },
        post: (response) => new Observable(Promise.resolve(response)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/** ServiceAccount tokens for one SA, cached in memory and re-requested when 80 % of the lifetime has passed. */
export class ServiceAccountTokenSource {
  readonly #core: CoreApi;
  readonly #namespace: string;
  readonly #name: string;
  readonly #timeoutMs: number;
  #token: { value: string; refreshAt: number } | undefined;
  #pending: Promise<string> | undefined;

  /** `timeoutMs` bounds each TokenRequest (default {@link DEFAULT_REQUEST_TIMEOUT_MS}). */
  constructor(core: CoreApi, namespace: string, name: string, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
    this.#core = core;
    this.#namespace = namespace;
    this.#name = name;
    this.#timeoutMs = timeoutMs;
  }

  get(): Promise<string> {
    if (this.#token !== undefined && Date.now() < this.#token.refreshAt) return Promise.resolve(this.#token.value);
    this.#pending ??= this.#request().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #request(): Promise<string> {
    const now = Date.now();
    let tr;
    const what = `TokenRequest for ServiceAccount ${this.#namespace}/${this.#name}`;
    try {
      tr = await withDeadline(
        this.#timeoutMs,
        undefined,
        ({ signal }) =>
          this.#core.createNamespacedServiceAccountToken(
            { namespace: this.#namespace, name: this.#name, body: { spec: { audiences: [WORKLOAD_IDENTITY_AUDIENCE], expirationSeconds: SA_TOKEN_SECONDS } } },
            abortedBy(signal),
          ),
        () => new SyncError('AuthenticationTimeout', `${what} got no answer within ${durationText(this.#timeoutMs)}`),
      );
    } catch (err) {
      if (isSyncError(err)) throw err;
      const status = statusOf(err);
      if (status === 404) throw new SyncError('IdentityNotFound', `ServiceAccount ${this.#namespace}/${this.#name} does not exist`);
      throw new SyncError('AuthenticationFailed', `${what} failed (HTTP ${status ?? 'error'})`);
    }
    const value = tr.status?.token;
    if (value === undefined || value === '') throw new SyncError('AuthenticationFailed', `${what} returned no token`);
    const expires = tr.status?.expirationTimestamp === undefined ? now + SA_TOKEN_SECONDS * 1000 : new Date(tr.status.expirationTimestamp).getTime();
    this.#token = { value, refreshAt: now + 0.8 * Math.max(0, expires - now) };
    return value;
  }
}

export interface CredentialProviderOptions {
  kube: KubeConfig;
  env: AzureEnvironment;
  /** Overrides the CoreV1Api made from `kube` (unit tests). */
  core?: CoreApi;
  /** How long a read of a service principal Secret or ServiceAccount stands for it; default {@link IDENTITY_READ_TTL_MS}. */
  identityReadTtlMs?: number;
  now?: () => number;
}

/**
 * A service principal Secret or ServiceAccount is read at most once per this long per name, shared by
 * every KeyVaultSync using it, so refreshes of many KeyVaultSyncs cost the apiserver no read each. A
 * rotated client secret or a new client-ID annotation is used within this long; a failed read is never kept.
 */
export const IDENTITY_READ_TTL_MS = 60_000;
/** Kept identity reads past which expired ones are swept. */
const MAX_KEPT_READS = 4_096;

export class CredentialProvider {
  readonly #core: CoreApi;
  readonly #env: AzureEnvironment;
  readonly #cache = new Map<string, TokenCredential>();
  readonly #slots = new Map<string, string>();
  readonly #reads = new Map<string, { at: number; read: Promise<unknown> }>();
  readonly #readTtlMs: number;
  readonly #now: () => number;

  constructor(opts: CredentialProviderOptions) {
    this.#core = opts.core ?? opts.kube.makeApiClient(CoreV1Api);
    this.#env = opts.env;
    this.#readTtlMs = opts.identityReadTtlMs ?? IDENTITY_READ_TTL_MS;
    this.#now = opts.now ?? Date.now;
  }

  /** `read()`, or the read of `key` started within the last {@link IDENTITY_READ_TTL_MS}. */
  #readShared<T>(key: string, read: () => Promise<T>): Promise<T> {
    const now = this.#now();
    const kept = this.#reads.get(key);
    if (kept !== undefined && now - kept.at < this.#readTtlMs) return kept.read as Promise<T>;
    if (this.#reads.size >= MAX_KEPT_READS) for (const [k, v] of this.#reads) if (now - v.at >= this.#readTtlMs) this.#reads.delete(k);
    const started = read();
    this.#reads.set(key, { at: now, read: started });
    started.catch(() => {
      if (this.#reads.get(key)?.read === started) this.#reads.delete(key);
    });
    return started;
  }

  /** Number of cached credentials (for tests and metrics). */
  get size(): number {
    return this.#cache.size;
  }

  /**
   * The credential for a KeyVaultSync, cached per identity (and reused across reconciles).
   * @throws SyncError IdentityNotFound (missing Secret, ServiceAccount, client ID, KeyVaultIdentity),
   *   IdentityNotPermitted (a KeyVaultIdentity that does not grant the namespace or vault),
   *   InvalidSpec (no tenant), AuthenticationFailed (the apiserver refused a read).
   */
  async credentialFor(sync: ResolvedKeyVaultSync, ctx: CredentialContext): Promise<CredentialFor> {
    const identity = sync.identity;
    switch (identity.mode) {
      case 'servicePrincipal':
        return this.#servicePrincipal(sync, ctx, identity);
      case 'workloadIdentity':
        return this.#workloadIdentity(sync, ctx, identity);
      case 'podIdentity':
      case 'managedIdentity':
        return this.#imdsIdentity(sync, ctx, identity);
    }
  }

  /**
   * The cached credential for `identityKey`. `slot` names where the identity comes from (a Secret, a
   * ServiceAccount, a KeyVaultIdentity): when its key changes (rotated secret, new client ID) the old
   * credential is dropped, so the cache holds one credential per source.
   */
  #cached(slot: string, identityKey: string, make: () => TokenCredential, source: string): CredentialFor {
    let credential = this.#cache.get(identityKey);
    if (credential === undefined) {
      credential = new BoundedCredential(make(), requestTimeoutMs(this.#env), source);
      const previous = this.#slots.get(slot);
      if (previous !== undefined) this.#cache.delete(previous);
      this.#cache.set(identityKey, credential);
      this.#slots.set(slot, identityKey);
    }
    return { credential, identityKey };
  }

  #tenant(sync: ResolvedKeyVaultSync, fallback?: string): string {
    const tenant = sync.vault.tenantID ?? fallback ?? this.#env.defaultTenantId;
    if (tenant === undefined) throw new SyncError('InvalidSpec', `no tenant for vault "${sync.vault.name ?? sync.vault.url}": set spec.vault.tenantID`);
    return tenant;
  }

  async #servicePrincipal(sync: ResolvedKeyVaultSync, ctx: CredentialContext, id: { secretName: string; clientIDKey: string; clientSecretKey: string }): Promise<CredentialFor> {
    let secret;
    try {
      secret = await this.#readShared(`Secret|${ctx.namespace}/${id.secretName}`, () => this.#core.readNamespacedSecret({ namespace: ctx.namespace, name: id.secretName }));
    } catch (err) {
      if (statusOf(err) === 404) throw new SyncError('IdentityNotFound', `service principal Secret ${ctx.namespace}/${id.secretName} does not exist`);
      throw new SyncError('AuthenticationFailed', `cannot read service principal Secret ${ctx.namespace}/${id.secretName} (HTTP ${statusOf(err) ?? 'error'})`);
    }
    const read = (key: string): string => {
      const b64 = secret.data?.[key];
      const value = b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8').trim();
      if (value === undefined || value === '') throw new SyncError('IdentityNotFound', `service principal Secret ${ctx.namespace}/${id.secretName} has no key "${key}"`);
      return value;
    };
    const clientId = read(id.clientIDKey);
    if (!isGuid(clientId)) {
      // Never quote it: the key may name a password, and Entra would echo a "client ID" it does not know.
      throw new SyncError('InvalidSpec', `key "${id.clientIDKey}" of service principal Secret ${ctx.namespace}/${id.secretName} does not hold a client ID (a GUID); check spec.identity.servicePrincipal.secretRef.clientIDKey`);
    }
    const clientSecret = read(id.clientSecretKey);
    const tenant = this.#tenant(sync);
    const options = credentialOptions(this.#env, sync.vault.cloudName);
    const key = `servicePrincipal|${tenant}|${clientId}|${options.authorityHost}|${ctx.namespace}/${id.secretName}@${secret.metadata?.resourceVersion ?? ''}`;
    return this.#cached(`servicePrincipal|${ctx.namespace}/${id.secretName}|${sync.vault.cloudName}|${tenant}`, key, () => new ClientSecretCredential(tenant, clientId, clientSecret, options), entraSource(options.authorityHost));
  }

  async #workloadIdentity(sync: ResolvedKeyVaultSync, ctx: CredentialContext, id: { serviceAccountName: string; clientID: string | undefined }): Promise<CredentialFor> {
    let sa;
    try {
      sa = await this.#readShared(`ServiceAccount|${ctx.namespace}/${id.serviceAccountName}`, () => this.#core.readNamespacedServiceAccount({ namespace: ctx.namespace, name: id.serviceAccountName }));
    } catch (err) {
      if (statusOf(err) === 404) throw new SyncError('IdentityNotFound', `ServiceAccount ${ctx.namespace}/${id.serviceAccountName} does not exist`);
      throw new SyncError('AuthenticationFailed', `cannot read ServiceAccount ${ctx.namespace}/${id.serviceAccountName} (HTTP ${statusOf(err) ?? 'error'})`);
    }
    const annotations = sa.metadata?.annotations ?? {};
    const clientId = id.clientID ?? annotations[CLIENT_ID_ANNOTATION];
    if (clientId === undefined || clientId === '') {
      throw new SyncError('IdentityNotFound', `ServiceAccount ${ctx.namespace}/${id.serviceAccountName} has no ${CLIENT_ID_ANNOTATION} annotation and the KeyVaultSync gives no clientID`);
    }
    if (!isGuid(clientId)) {
      const from = id.clientID !== undefined ? 'spec.identity.workloadIdentity.clientID' : `the ${CLIENT_ID_ANNOTATION} annotation of ServiceAccount ${ctx.namespace}/${id.serviceAccountName}`;
      throw new SyncError('InvalidSpec', `${from} is not a client ID (a GUID)`);
    }
    const annotatedTenant = annotations[TENANT_ID_ANNOTATION];
    if (sync.vault.tenantID === undefined && annotatedTenant !== undefined && !isTenantId(annotatedTenant)) {
      throw new SyncError('InvalidSpec', `the ${TENANT_ID_ANNOTATION} annotation of ServiceAccount ${ctx.namespace}/${id.serviceAccountName} is not a tenant ID (a GUID or a domain name)`);
    }
    const tenant = this.#tenant(sync, annotatedTenant);
    const options = credentialOptions(this.#env, sync.vault.cloudName);
    const key = `workloadIdentity|${tenant}|${clientId}|${options.authorityHost}|${ctx.namespace}/${id.serviceAccountName}`;
    return this.#cached(`workloadIdentity|${ctx.namespace}/${id.serviceAccountName}|${sync.vault.cloudName}|${tenant}`, key, () => {
      const source = new ServiceAccountTokenSource(this.#core, ctx.namespace, id.serviceAccountName, requestTimeoutMs(this.#env));
      return new ClientAssertionCredential(tenant, clientId, () => source.get(), options);
    }, `${entraSource(options.authorityHost)} with a TokenRequest for ServiceAccount ${ctx.namespace}/${id.serviceAccountName}`);
  }

  async #imdsIdentity(sync: ResolvedKeyVaultSync, ctx: CredentialContext, id: { mode: 'podIdentity' | 'managedIdentity'; identityRef: string | undefined; clientID: string | undefined }): Promise<CredentialFor> {
    const labels = ctx.namespaceLabels ?? (await this.#namespaceLabels(ctx.namespace));
    const ns = { name: ctx.namespace, labels };
    const request = { mode: id.mode, clientID: id.clientID };
    let chosen: ResolvedKeyVaultIdentity | undefined;
    if (id.identityRef !== undefined) {
      chosen = ctx.identities.find((i) => i.name === id.identityRef);
      if (chosen === undefined) throw new SyncError('IdentityNotFound', `KeyVaultIdentity "${id.identityRef}" does not exist`);
      const denial = sharedIdentityDenial(chosen, request, ns, sync.vault, this.#env);
      if (denial !== undefined) throw new SyncError('IdentityNotPermitted', denial);
    } else {
      // CSI migration (usePodIdentity / useVMManagedIdentity without a ref): the one identity of this type that grants both.
      chosen = ctx.identities.find((i) => sharedIdentityDenial(i, request, ns, sync.vault, this.#env) === undefined);
      if (chosen === undefined) {
        throw new SyncError('IdentityNotPermitted', `no KeyVaultIdentity of type ${id.mode}${id.clientID === undefined ? '' : ` with client ID ${id.clientID}`} grants namespace "${ctx.namespace}" and vault ${sync.vault.url}`);
      }
    }
    const spec = chosen.spec;
    const tenant = spec.tenantID ?? this.#tenant(sync);
    const key = `${id.mode}|${tenant}|${spec.clientID}|${this.#env.imdsHost}|${chosen.name ?? ''}`;
    return this.#cached(key, key, () => new ImdsCredential({ host: this.#env.imdsHost, clientId: spec.clientID }), `IMDS (${this.#env.imdsHost})`);
  }

  async #namespaceLabels(namespace: string): Promise<Record<string, string>> {
    try {
      const ns = await this.#core.readNamespace({ name: namespace });
      return ns.metadata?.labels ?? {};
    } catch (err) {
      throw new SyncError('AuthenticationFailed', `cannot read Namespace ${namespace} to check identity grants (HTTP ${statusOf(err) ?? 'error'})`);
    }
  }
}
