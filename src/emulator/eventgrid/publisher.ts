/**
 * The emulator's Event Grid: webhook event subscriptions on the emulated vaults, with Azure's validation
 * handshake, and delivery of Key Vault events with bounded retries.
 *
 * - Event Grid schema: the handshake POSTs a `Microsoft.EventGrid.SubscriptionValidationEvent` (header
 *   `aeg-event-type: SubscriptionValidation`) and expects `{"validationResponse": "<validationCode>"}`;
 *   events are POSTed as a JSON array (`aeg-event-type: Notification`).
 * - CloudEvents 1.0: the handshake is the HTTP OPTIONS abuse-protection request with
 *   `WebHook-Request-Origin: eventgrid.azure.net`, answered by `WebHook-Allowed-Origin` (that origin or `*`);
 *   events are POSTed one per request as `application/cloudevents+json`.
 * - Success is 200–204. 400, 403 and 413 are not retried (as Event Grid drops them); anything else
 *   (other statuses, network errors, timeouts) is retried with exponential backoff until
 *   `maxDeliveryAttempts`, then dropped. Every attempt is recorded (see {@link DeliveryRecord}).
 * - Receivers can authenticate deliveries with static delivery headers, the `sharedKey` shorthand (sent
 *   as `aeg-sas-key`) or a key in the endpoint URL's query string. Keys are never logged nor returned by
 *   the admin API.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../clock.ts';
import type { RouteHandler } from '../identity/contract.ts';
import { RequestBodyError, readBody, sendJson } from '../identity/http.ts';
import {
  KEY_VAULT_EVENT_TYPES,
  subscriptionValidationEvent,
  toCloudEvent,
  toEventGridEvent,
  vaultTopic,
} from './events.ts';
import type { ArmScope, KeyVaultEvent, KeyVaultEventType } from './events.ts';
import { WebhookRequestError, sendWebhookRequest } from './webhook.ts';

export type { KeyVaultEvent, KeyVaultEventType } from './events.ts';

export type EventDeliverySchema = 'EventGridSchema' | 'CloudEventSchemaV1_0';

export interface RetryPolicy {
  /** Attempts in total, 1–30 (Azure's maximum is 30). Default 5. */
  maxDeliveryAttempts: number;
  /** Delay before the first retry; doubles each time. Default 500 ms. */
  initialDelayMs: number;
  /** Cap on the delay. Default 10 s. */
  maxDelayMs: number;
}

/** What a caller gives to create a subscription (admin API body). */
export interface SubscriptionInput {
  /** 3–64 letters, digits and hyphens. */
  name: string;
  endpointUrl: string;
  /** Default: all Key Vault event types. */
  includedEventTypes?: KeyVaultEventType[];
  /** Default `EventGridSchema`. */
  eventDeliverySchema?: EventDeliverySchema;
  /** Vault names whose events this subscription receives; default all vaults. */
  vaults?: string[];
  subjectBeginsWith?: string;
  subjectEndsWith?: string;
  /** Static headers added to every delivery (Event Grid "delivery attribute mappings"). */
  deliveryHeaders?: Record<string, string>;
  /** Sent as the `aeg-sas-key` header on the handshake and every delivery. */
  sharedKey?: string;
  retryPolicy?: Partial<RetryPolicy>;
}

/** A subscription as the admin API shows it: no key values, endpoint query string redacted. */
export interface SubscriptionView {
  name: string;
  endpointUrl: string;
  includedEventTypes: KeyVaultEventType[];
  eventDeliverySchema: EventDeliverySchema;
  vaults: string[] | null;
  subjectBeginsWith: string;
  subjectEndsWith: string;
  deliveryHeaderNames: string[];
  hasSharedKey: boolean;
  retryPolicy: RetryPolicy;
  provisioningState: 'Succeeded';
  createdAt: string;
}

/** One delivery attempt. */
export interface DeliveryRecord {
  subscription: string;
  eventId: string;
  eventType: string;
  /** 1-based */
  attempt: number;
  /** HTTP status, or 0 when no answer came. */
  status: number;
  outcome: 'delivered' | 'retrying' | 'dropped';
  error?: string;
  at: string;
}

/** A refused admin request; `reason` is the Azure-style error code. */
export class EventGridError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = 'EventGridError';
    this.status = status;
    this.reason = reason;
  }
}

interface Subscription {
  input: Required<Pick<SubscriptionInput, 'name' | 'endpointUrl'>> & SubscriptionInput;
  view: SubscriptionView;
}

const DEFAULT_RETRY: RetryPolicy = { maxDeliveryAttempts: 5, initialDelayMs: 500, maxDelayMs: 10_000 };
const NOT_RETRIED = new Set([400, 403, 413]);
const WEBHOOK_ORIGIN = 'eventgrid.azure.net';
const MAX_RECORDS = 1000;
const NAME_PATTERN = /^[A-Za-z0-9-]{3,64}$/;

export interface EventGridPublisherOptions {
  clock: Clock;
  /** CAs trusted (besides the system roots) for HTTPS webhooks. */
  trustedCaPems: string[];
  /** ARM scope used in `topic`; default subscription 00000000-0000-0000-0000-000000000000, group `kvsync-emulator`. */
  scope?: ArmScope;
  /** Per-request timeout; Event Grid waits 30 s. */
  deliveryTimeoutMs?: number;
  /** Defaults for subscriptions that give no retry policy. */
  defaultRetryPolicy?: Partial<RetryPolicy>;
}

export class EventGridPublisher {
  readonly #clock: Clock;
  readonly #caPems: string[];
  readonly #scope: ArmScope;
  readonly #timeoutMs: number;
  readonly #defaultRetry: RetryPolicy;
  readonly #subscriptions = new Map<string, Subscription>();
  readonly #inflight = new Set<Promise<void>>();
  readonly #records: DeliveryRecord[] = [];
  readonly #abort = new AbortController();

  constructor(opts: EventGridPublisherOptions) {
    this.#clock = opts.clock;
    this.#caPems = opts.trustedCaPems;
    this.#scope = opts.scope ?? { subscriptionId: '00000000-0000-0000-0000-000000000000', resourceGroup: 'kvsync-emulator' };
    this.#timeoutMs = opts.deliveryTimeoutMs ?? 30_000;
    this.#defaultRetry = { ...DEFAULT_RETRY, ...opts.defaultRetryPolicy };
  }

  /**
   * Validates the input, runs the handshake against the endpoint and stores the subscription (replacing
   * one of the same name). Throws {@link EventGridError}: 400 `InvalidRequest` for bad input, 400
   * `WebhookValidationHandshakeFailed` when the endpoint does not complete the handshake.
   */
  async createSubscription(raw: unknown): Promise<SubscriptionView> {
    const input = parseSubscriptionInput(raw, this.#defaultRetry);
    const view = toView(input, this.#retryOf(input), this.#clock.nowMs());
    await this.#handshake(input, view);
    this.#subscriptions.set(input.name.toLowerCase(), { input, view });
    return view;
  }

  listSubscriptions(): SubscriptionView[] {
    return [...this.#subscriptions.values()].map((s) => s.view);
  }

  getSubscription(name: string): SubscriptionView | undefined {
    return this.#subscriptions.get(name.toLowerCase())?.view;
  }

  deleteSubscription(name: string): boolean {
    return this.#subscriptions.delete(name.toLowerCase());
  }

  clearSubscriptions(): void {
    this.#subscriptions.clear();
  }

  /** Delivery attempts so far, oldest first (the last 1000). */
  deliveries(): DeliveryRecord[] {
    return [...this.#records];
  }

  clearDeliveries(): void {
    this.#records.length = 0;
  }

  /** Fans the event out to matching subscriptions in the background; never throws. */
  publish(e: KeyVaultEvent): void {
    if (this.#abort.signal.aborted) {
      return;
    }
    const id = randomUUID();
    const nowMs = this.#clock.nowMs();
    for (const sub of this.#subscriptions.values()) {
      if (!matches(sub, e)) {
        continue;
      }
      const cloud = sub.view.eventDeliverySchema === 'CloudEventSchemaV1_0';
      const body = cloud ? JSON.stringify(toCloudEvent(e, this.#scope, id, nowMs)) : JSON.stringify([toEventGridEvent(e, this.#scope, id, nowMs)]);
      const task = this.#deliver(sub, id, e.type, body, cloud).finally(() => this.#inflight.delete(task));
      this.#inflight.add(task);
    }
  }

  /** Resolves when no delivery is in flight or waiting for a retry (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#inflight.size > 0) {
      await Promise.allSettled([...this.#inflight]);
    }
  }

  /** Stops accepting events, cancels pending retries and in-flight requests, and waits for the loops to end. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.idle();
  }

  #retryOf(input: SubscriptionInput): RetryPolicy {
    return { ...this.#defaultRetry, ...input.retryPolicy };
  }

  #headers(input: SubscriptionInput, eventType: 'Notification' | 'SubscriptionValidation', deliveryCount: number, dataVersion: string): Record<string, string> {
    return {
      ...input.deliveryHeaders,
      ...(input.sharedKey === undefined ? {} : { 'aeg-sas-key': input.sharedKey }),
      'aeg-event-type': eventType,
      'aeg-subscription-name': input.name.toUpperCase(),
      'aeg-data-version': dataVersion,
      'aeg-metadata-version': '1',
      'aeg-delivery-count': String(deliveryCount),
    };
  }

  async #handshake(input: SubscriptionInput & { name: string; endpointUrl: string }, view: SubscriptionView): Promise<void> {
    const fail = (why: string): EventGridError =>
      new EventGridError(400, 'WebhookValidationHandshakeFailed', `Webhook validation handshake failed for ${view.endpointUrl}. ${why}`);
    if (view.eventDeliverySchema === 'CloudEventSchemaV1_0') {
      let res;
      try {
        res = await sendWebhookRequest({
          method: 'OPTIONS', url: input.endpointUrl, timeoutMs: this.#timeoutMs, caPems: this.#caPems, signal: this.#abort.signal,
          headers: { ...input.deliveryHeaders, ...(input.sharedKey === undefined ? {} : { 'aeg-sas-key': input.sharedKey }), 'WebHook-Request-Origin': WEBHOOK_ORIGIN },
        });
      } catch (err) {
        throw fail(`Http OPTIONS request failed: ${errorText(err)}.`);
      }
      const allowed = headerText(res.headers['webhook-allowed-origin']);
      if (res.status !== 200 || (allowed !== WEBHOOK_ORIGIN && allowed !== '*')) {
        throw fail(`Http OPTIONS request answered ${res.status} with WebHook-Allowed-Origin '${allowed ?? ''}'; expected 200 and '${WEBHOOK_ORIGIN}' or '*'.`);
      }
      return;
    }
    const code = randomUUID().toUpperCase();
    const topic = input.vaults?.length === 1 && input.vaults[0] !== undefined ? vaultTopic(this.#scope, input.vaults[0]) : vaultTopic(this.#scope, '*');
    let res;
    try {
      res = await sendWebhookRequest({
        method: 'POST', url: input.endpointUrl, timeoutMs: this.#timeoutMs, caPems: this.#caPems, signal: this.#abort.signal,
        headers: { 'Content-Type': 'application/json; charset=utf-8', ...this.#headers(input, 'SubscriptionValidation', 0, '2') },
        body: JSON.stringify([subscriptionValidationEvent(topic, code, this.#clock.nowMs())]),
      });
    } catch (err) {
      throw fail(`Http POST request failed: ${errorText(err)}.`);
    }
    if (res.status < 200 || res.status > 204) {
      throw fail(`Http POST request failed with response code ${res.status}.`);
    }
    let echoed: unknown;
    try {
      const parsed = JSON.parse(res.body) as Record<string, unknown>;
      echoed = Object.entries(parsed).find(([k]) => k.toLowerCase() === 'validationresponse')?.[1];
    } catch {
      echoed = undefined;
    }
    if (typeof echoed !== 'string' || echoed.toUpperCase() !== code) {
      throw fail('The response did not contain the expected validationResponse.');
    }
  }

  async #deliver(sub: Subscription, eventId: string, eventType: string, body: string, cloud: boolean): Promise<void> {
    const retry = sub.view.retryPolicy;
    for (let attempt = 1; attempt <= retry.maxDeliveryAttempts; attempt++) {
      if (this.#abort.signal.aborted) {
        return;
      }
      let status = 0;
      let error: string | undefined;
      try {
        const res = await sendWebhookRequest({
          method: 'POST', url: sub.input.endpointUrl, timeoutMs: this.#timeoutMs, caPems: this.#caPems, signal: this.#abort.signal,
          headers: {
            'Content-Type': cloud ? 'application/cloudevents+json; charset=utf-8' : 'application/json; charset=utf-8',
            ...this.#headers(sub.input, 'Notification', attempt - 1, '1'),
          },
          body,
        });
        status = res.status;
      } catch (err) {
        if (this.#abort.signal.aborted) {
          return;
        }
        error = errorText(err);
      }
      const delivered = status >= 200 && status <= 204;
      const final = delivered || NOT_RETRIED.has(status) || attempt === retry.maxDeliveryAttempts;
      this.#record({
        subscription: sub.view.name, eventId, eventType, attempt, status,
        outcome: delivered ? 'delivered' : final ? 'dropped' : 'retrying',
        ...(error === undefined ? {} : { error }),
        at: new Date(this.#clock.nowMs()).toISOString(),
      });
      if (final) {
        return;
      }
      const delay = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** (attempt - 1));
      if (!(await sleep(delay, this.#abort.signal))) {
        return;
      }
    }
  }

  #record(r: DeliveryRecord): void {
    this.#records.push(r);
    if (this.#records.length > MAX_RECORDS) {
      this.#records.splice(0, this.#records.length - MAX_RECORDS);
    }
  }
}

/** Waits `ms`; resolves false early when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function matches(sub: Subscription, e: KeyVaultEvent): boolean {
  const v = sub.view;
  return (
    v.includedEventTypes.includes(e.type) &&
    (v.vaults === null || v.vaults.some((n) => n.toLowerCase() === e.vaultName.toLowerCase())) &&
    e.objectName.startsWith(v.subjectBeginsWith) &&
    e.objectName.endsWith(v.subjectEndsWith)
  );
}

function toView(input: SubscriptionInput, retryPolicy: RetryPolicy, nowMs: number): SubscriptionView {
  const url = new URL(input.endpointUrl);
  if (url.search !== '') {
    url.search = '?<redacted>';
  }
  url.username = '';
  url.password = '';
  return {
    name: input.name,
    endpointUrl: url.toString(),
    includedEventTypes: input.includedEventTypes ?? [...KEY_VAULT_EVENT_TYPES],
    eventDeliverySchema: input.eventDeliverySchema ?? 'EventGridSchema',
    vaults: input.vaults ?? null,
    subjectBeginsWith: input.subjectBeginsWith ?? '',
    subjectEndsWith: input.subjectEndsWith ?? '',
    deliveryHeaderNames: Object.keys(input.deliveryHeaders ?? {}),
    hasSharedKey: input.sharedKey !== undefined,
    retryPolicy,
    provisioningState: 'Succeeded',
    createdAt: new Date(nowMs).toISOString(),
  };
}

/** Checks an admin-API body field by field; throws EventGridError 400 InvalidRequest naming the field. */
export function parseSubscriptionInput(raw: unknown, defaults: RetryPolicy = DEFAULT_RETRY): SubscriptionInput & { name: string; endpointUrl: string } {
  const bad = (field: string, why: string): EventGridError => new EventGridError(400, 'InvalidRequest', `Invalid subscription: '${field}' ${why}.`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw bad('body', 'must be a JSON object');
  }
  const o = raw as Record<string, unknown>;
  const name = o.name;
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw bad('name', 'must be 3-64 letters, digits or hyphens');
  }
  const endpointUrl = o.endpointUrl;
  if (typeof endpointUrl !== 'string' || !URL.canParse(endpointUrl) || !/^https?:$/.test(new URL(endpointUrl).protocol)) {
    throw bad('endpointUrl', 'must be an http(s) URL');
  }
  const out: SubscriptionInput & { name: string; endpointUrl: string } = { name, endpointUrl };
  if (o.includedEventTypes !== undefined) {
    const types = o.includedEventTypes;
    if (!Array.isArray(types) || types.length === 0 || !types.every((t): t is KeyVaultEventType => KEY_VAULT_EVENT_TYPES.includes(t as KeyVaultEventType))) {
      throw bad('includedEventTypes', `must be a non-empty list of ${KEY_VAULT_EVENT_TYPES.join(', ')}`);
    }
    out.includedEventTypes = types;
  }
  if (o.eventDeliverySchema !== undefined) {
    if (o.eventDeliverySchema !== 'EventGridSchema' && o.eventDeliverySchema !== 'CloudEventSchemaV1_0') {
      throw bad('eventDeliverySchema', "must be 'EventGridSchema' or 'CloudEventSchemaV1_0'");
    }
    out.eventDeliverySchema = o.eventDeliverySchema;
  }
  if (o.vaults !== undefined) {
    if (!Array.isArray(o.vaults) || !o.vaults.every((v) => typeof v === 'string' && v !== '')) {
      throw bad('vaults', 'must be a list of vault names');
    }
    out.vaults = o.vaults as string[];
  }
  for (const f of ['subjectBeginsWith', 'subjectEndsWith', 'sharedKey'] as const) {
    const v = o[f];
    if (v !== undefined) {
      if (typeof v !== 'string') {
        throw bad(f, 'must be a string');
      }
      out[f] = v;
    }
  }
  if (o.deliveryHeaders !== undefined) {
    const h = o.deliveryHeaders;
    if (typeof h !== 'object' || h === null || Array.isArray(h) || !Object.entries(h).every(([k, v]) => /^[A-Za-z0-9-]+$/.test(k) && typeof v === 'string' && !/[\r\n]/.test(v))) {
      throw bad('deliveryHeaders', 'must map header names to string values');
    }
    out.deliveryHeaders = h as Record<string, string>;
  }
  if (o.retryPolicy !== undefined) {
    const r = o.retryPolicy;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) {
      throw bad('retryPolicy', 'must be an object');
    }
    const rp = r as Record<string, unknown>;
    const policy: Partial<RetryPolicy> = {};
    const int = (k: keyof RetryPolicy, min: number, max: number): void => {
      const v = rp[k];
      if (v === undefined) {
        return;
      }
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        throw bad(`retryPolicy.${k}`, `must be an integer from ${min} to ${max}`);
      }
      policy[k] = v;
    };
    int('maxDeliveryAttempts', 1, 30);
    int('initialDelayMs', 0, 3_600_000);
    int('maxDelayMs', 0, 3_600_000);
    if ((policy.maxDelayMs ?? defaults.maxDelayMs) < (policy.initialDelayMs ?? 0)) {
      throw bad('retryPolicy.maxDelayMs', 'must not be below initialDelayMs');
    }
    out.retryPolicy = policy;
  }
  return out;
}

function errorText(err: unknown): string {
  if (err instanceof WebhookRequestError) {
    return err.message;
  }
  return err instanceof Error ? err.message : 'unknown error';
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

const PREFIX = '/admin/eventgrid';

/**
 * Admin routes, mounted under `<adminUrl>`:
 * `POST /admin/eventgrid/subscriptions` (create, runs the handshake; 201), `PUT …/subscriptions/{name}`
 * (create or replace), `GET …/subscriptions` (`{"value":[…]}`), `GET|DELETE …/subscriptions/{name}`,
 * `DELETE …/subscriptions` (all), `GET|DELETE /admin/eventgrid/deliveries` (attempt log), and
 * `POST /admin/eventgrid/events` (publish a Key Vault event by hand; 202).
 */
export function createEventGridAdminHandler(p: EventGridPublisher): RouteHandler {
  return async (req, res, url) => {
    const path = url.pathname.replace(/\/+$/, '');
    if (path !== PREFIX && !path.startsWith(`${PREFIX}/`)) {
      return false;
    }
    try {
      await route(p, req, res, path.slice(PREFIX.length));
    } catch (err) {
      if (err instanceof EventGridError) {
        sendJson(res, err.status, { error: { code: err.reason, message: err.message } });
      } else if (err instanceof RequestBodyError) {
        sendJson(res, err.reason === 'BodyTooLarge' ? 413 : 400, { error: { code: 'InvalidRequest', message: err.message } });
      } else {
        throw err;
      }
    }
    return true;
  };
}

async function route(p: EventGridPublisher, req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> {
  const method = req.method ?? 'GET';
  const subMatch = /^\/subscriptions\/([^/]+)$/.exec(rest);
  if (rest === '/subscriptions') {
    if (method === 'GET') {
      sendJson(res, 200, { value: p.listSubscriptions() });
      return;
    }
    if (method === 'POST') {
      sendJson(res, 201, await p.createSubscription(await readJson(req)));
      return;
    }
    if (method === 'DELETE') {
      p.clearSubscriptions();
      res.writeHead(204).end();
      return;
    }
    throw methodNotAllowed(method);
  }
  if (subMatch?.[1] !== undefined) {
    const name = decodeURIComponent(subMatch[1]);
    if (method === 'GET') {
      const view = p.getSubscription(name);
      if (view === undefined) {
        throw notFound(name);
      }
      sendJson(res, 200, view);
      return;
    }
    if (method === 'PUT') {
      const body = await readJson(req);
      const existed = p.getSubscription(name) !== undefined;
      const view = await p.createSubscription(typeof body === 'object' && body !== null ? { ...body, name } : body);
      sendJson(res, existed ? 200 : 201, view);
      return;
    }
    if (method === 'DELETE') {
      if (!p.deleteSubscription(name)) {
        throw notFound(name);
      }
      res.writeHead(204).end();
      return;
    }
    throw methodNotAllowed(method);
  }
  if (rest === '/deliveries') {
    if (method === 'GET') {
      sendJson(res, 200, { value: p.deliveries() });
      return;
    }
    if (method === 'DELETE') {
      p.clearDeliveries();
      res.writeHead(204).end();
      return;
    }
    throw methodNotAllowed(method);
  }
  if (rest === '/events' && method === 'POST') {
    p.publish(parseEvent(await readJson(req)));
    sendJson(res, 202, { accepted: true });
    return;
  }
  throw new EventGridError(404, 'NotFound', `No Event Grid admin route ${method} ${PREFIX}${rest}.`);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req, 64 * 1024);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new EventGridError(400, 'InvalidRequest', 'The request body is not valid JSON.');
  }
}

function parseEvent(raw: unknown): KeyVaultEvent {
  const bad = (why: string): EventGridError => new EventGridError(400, 'InvalidRequest', `Invalid event: ${why}.`);
  if (typeof raw !== 'object' || raw === null) {
    throw bad('body must be a JSON object');
  }
  const o = raw as Record<string, unknown>;
  if (!KEY_VAULT_EVENT_TYPES.includes(o.type as KeyVaultEventType)) {
    throw bad(`'type' must be one of ${KEY_VAULT_EVENT_TYPES.join(', ')}`);
  }
  for (const f of ['vaultName', 'vaultUrl', 'objectName', 'version']) {
    if (typeof o[f] !== 'string' || o[f] === '') {
      throw bad(`'${f}' must be a non-empty string`);
    }
  }
  if (o.objectType !== 'Secret' && o.objectType !== 'Certificate') {
    throw bad("'objectType' must be 'Secret' or 'Certificate'");
  }
  for (const f of ['nbf', 'exp']) {
    if (o[f] !== undefined && typeof o[f] !== 'number') {
      throw bad(`'${f}' must be a number of seconds`);
    }
  }
  return o as unknown as KeyVaultEvent;
}

function notFound(name: string): EventGridError {
  return new EventGridError(404, 'NotFound', `Event subscription '${name}' was not found.`);
}

function methodNotAllowed(method: string): EventGridError {
  return new EventGridError(405, 'MethodNotAllowed', `Method ${method} is not allowed here.`);
}
