/** Typed errors of the Event Grid endpoint; `reason` names the problem, `status` is the HTTP answer. */

export type EventGridRequestReason = 'MalformedRequest' | 'PayloadTooLarge' | 'UnsupportedMediaType' | 'Unauthenticated';

const STATUS: Readonly<Record<EventGridRequestReason, number>> = {
  MalformedRequest: 400,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  Unauthenticated: 401,
};

/** A refused delivery. The message says what was wrong with the request, never an event's or header's value. */
export class EventGridRequestError extends Error {
  override readonly name = 'EventGridRequestError';
  readonly reason: EventGridRequestReason;
  readonly status: number;

  constructor(reason: EventGridRequestReason, message: string) {
    super(message);
    this.reason = reason;
    this.status = STATUS[reason];
  }
}

/** The endpoint cannot start: a flag or file is wrong. */
export class EventGridConfigError extends Error {
  override readonly name = 'EventGridConfigError';
  readonly reason = 'InvalidEventGridConfig';
}
