/**
 * The emulator's notion of "now". Everything that issues or checks a time (token expiry, secret
 * timestamps, certificate validity, near-expiry events) reads it from here, so that the admin API's
 * time shift moves all of them together.
 */
export class Clock {
  #offsetMs = 0;

  /** Milliseconds since the epoch, shifted. */
  nowMs(): number {
    return Date.now() + this.#offsetMs;
  }

  /** Whole seconds since the epoch, shifted: the unit Key Vault and JWTs use. */
  nowSeconds(): number {
    return Math.floor(this.nowMs() / 1000);
  }

  /** Moves the clock by `deltaMs` (may be negative); returns the new total offset. */
  shift(deltaMs: number): number {
    this.#offsetMs += deltaMs;
    return this.#offsetMs;
  }

  offsetMs(): number {
    return this.#offsetMs;
  }

  reset(): void {
    this.#offsetMs = 0;
  }
}
