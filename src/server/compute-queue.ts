/**
 * Admission in front of the engine: at most `concurrency` jobs run, at most `maxQueued` wait.
 * A caller first reserves a place without waiting (`tryReserve`); no place means 503 QUEUE_FULL at
 * once — backpressure instead of unbounded waiting. Each job has a deadline counted from its
 * reservation: a job still queued at the deadline never starts; a running one gets its signal
 * aborted and the caller is answered `TIMEOUT`, while its slot stays taken until the engine
 * actually returns (so timeouts cannot pile more work onto a busy engine).
 */
import { BlindDxError } from '../protocol/errors.ts';

export interface QueueSnapshot {
  readonly active: number;
  readonly queued: number;
}

/** A reserved place; call exactly one of `run` or `cancel`. */
export interface Reservation {
  run<T>(
    job: (signal: AbortSignal) => Promise<T>,
    timeoutMs: number,
  ): Promise<{ value: T; queueMs: number; runMs: number }>;
  cancel(): void;
}

export class ComputeQueue {
  readonly concurrency: number;
  readonly maxQueued: number;
  #active = 0;
  #waiting: (() => void)[] = [];
  #reserved = 0;
  #idle: (() => void)[] = [];

  constructor(options: { concurrency: number; maxQueued: number }) {
    if (!Number.isSafeInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(
        `ComputeQueue: "concurrency" expected an integer >= 1, got ${options.concurrency}`,
      );
    }
    if (!Number.isSafeInteger(options.maxQueued) || options.maxQueued < 0) {
      throw new RangeError(`ComputeQueue: "maxQueued" expected an integer >= 0, got ${options.maxQueued}`);
    }
    this.concurrency = options.concurrency;
    this.maxQueued = options.maxQueued;
  }

  /** Jobs running, and reservations not yet running. */
  snapshot(): QueueSnapshot {
    return { active: this.#active, queued: this.#reserved };
  }

  /** A place in the queue, or null when running + waiting is at capacity. Never waits. */
  tryReserve(): Reservation | null {
    if (this.#active + this.#reserved >= this.concurrency + this.maxQueued) return null;
    this.#reserved++;
    const reservedAt = performance.now();
    let used = false;
    const use = () => {
      if (used) throw new Error('ComputeQueue: a reservation is used once');
      used = true;
    };
    return {
      cancel: () => {
        use();
        this.#reserved--;
        this.#checkIdle();
      },
      run: <T>(job: (signal: AbortSignal) => Promise<T>, timeoutMs: number) => {
        use();
        return this.#run(job, timeoutMs, reservedAt);
      },
    };
  }

  #run<T>(
    job: (signal: AbortSignal) => Promise<T>,
    timeoutMs: number,
    reservedAt: number,
  ): Promise<{ value: T; queueMs: number; runMs: number }> {
    return new Promise((resolve, reject) => {
      const ac = new AbortController();
      let settled = false;
      let started = false;
      const timeoutError = () =>
        new BlindDxError('TIMEOUT', `inference did not finish within ${timeoutMs} ms`, {
          retryAfterSeconds: 1,
        });
      const start = () => {
        if (settled) return; // timed out while waiting: never started
        started = true;
        this.#reserved--;
        this.#active++;
        const t0 = performance.now();
        const queueMs = t0 - reservedAt;
        let p: Promise<T>;
        try {
          p = job(ac.signal);
        } catch (e) {
          p = Promise.reject(e);
        }
        p.then(
          (value) => {
            if (!settled) resolve({ value, queueMs, runMs: performance.now() - t0 });
          },
          (e) => {
            if (!settled) reject(e);
          },
        ).finally(() => {
          settled = true;
          clearTimeout(timer);
          this.#active--;
          this.#next();
        });
      };
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        ac.abort(timeoutError());
        if (!started) {
          const i = this.#waiting.indexOf(start);
          if (i >= 0) this.#waiting.splice(i, 1);
          this.#reserved--;
          this.#checkIdle();
        }
        reject(timeoutError());
      }, timeoutMs);
      if (this.#active < this.concurrency) start();
      else this.#waiting.push(start);
    });
  }

  #next(): void {
    while (this.#active < this.concurrency && this.#waiting.length > 0) this.#waiting.shift()!();
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.#active === 0 && this.#reserved === 0) for (const f of this.#idle.splice(0)) f();
  }

  /** Resolves when nothing runs and nothing is reserved (used by graceful shutdown). */
  drained(): Promise<void> {
    if (this.#active === 0 && this.#reserved === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }
}
