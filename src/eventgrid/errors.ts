/** Typed errors of the Event Grid endpoint; `reason` names the problem, `status` is the HTTP answer. */
import { KvsyncError } from '../util/errors.ts';

export type EventGridRequestReason = 'MalformedRequest' | 'PayloadTooLarge' | 'UnsupportedMediaType' | 'Unauthenticated';

const STATUS: Readonly<Record<EventGridRequestReason, number>> = {
  MalformedRequest: 400,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  Unauthenticated: 401,
};

/** A refused delivery. The message says what was wrong with the request, never an event's or header's value. */
export class EventGridRequestError extends KvsyncError<EventGridRequestReason> {
  override readonly name = 'EventGridRequestError';
  readonly status: number;

  constructor(reason: EventGridRequestReason, message: string) {
    super(reason, message);
    this.status = STATUS[reason];
  }
}

/** The endpoint cannot start: a flag or file is wrong. */
export class EventGridConfigError extends KvsyncError<'InvalidEventGridConfig'> {
  override readonly name = 'EventGridConfigError';
  constructor(message: string) {
    super('InvalidEventGridConfig', message);
  }
}
