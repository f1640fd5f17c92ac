// A pool of worker threads, each with its own SEAL instance. Heavy homomorphic work runs there so
// the event loop stays responsive, the cores are used, and a crash (or a WebAssembly instance that
// ran out of memory) is contained in one replaceable worker.
//
//   run(kind, payload) ─► queue (≤ maxQueued) ─► idle worker ─► handlers[kind](payload, env)
//                                                   │ crash / exit ─► task HE_WORKER_CRASHED, worker replaced
//                                                   │ timeout      ─► terminate, HE_WORKER_TIMEOUT, replaced
//                                                   └ result bytes ─► caller

import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HeError } from '../errors.ts';
import { _compileSealWasm } from './_wasm-heap.ts';
import {
  _fromWire,
  type _RunMessage,
  _transferList,
  type _WorkerData,
  type _WorkerMessage,
  type HandlerMap,
  type TaskInput,
  type TaskOutput,
  type TaskValue,
} from './pool-protocol.ts';

export type {
  HandlerMap,
  TaskHandler,
  TaskInput,
  TaskOutput,
  TaskValue,
  WorkerEnv,
} from './pool-protocol.ts';
export { defineHandlers, TaskError } from './pool-protocol.ts';

/** How a pool is built. */
export interface WorkerPoolOptions {
  /**
   * Handler module(s) each worker imports; each exports `handlers: Record<kind, handler>`. A URL,
   * a `file:` URL string or an absolute path. Kinds must be unique across modules.
   */
  readonly handlers: URL | string | readonly (URL | string)[];
  /** Number of workers. Default: `os.availableParallelism()` (more workers than cores is slower). */
  readonly size?: number;
  /** Tasks that may wait for a worker; one more is refused with {@link PoolBusyError}. Default 256. */
  readonly maxQueued?: number;
  /** Default per-task running-time limit in ms (see {@link RunOptions.timeoutMs}). Default none. */
  readonly taskTimeoutMs?: number;
  /** Consecutive failed worker starts after which the pool gives up (a broken handler module). Default 3. */
  readonly maxStartFailures?: number;
}

/** Per-task options. */
export interface RunOptions {
  /**
   * Running-time limit, counted from the moment a worker starts the task (queue time is the
   * caller's business: use `signal`). On expiry the worker is terminated — the only way to stop a
   * synchronous SEAL call — and replaced, and the task fails with `HE_WORKER_TIMEOUT`.
   */
  readonly timeoutMs?: number;
  /**
   * Cancels the task: a queued task is removed; a running one is abandoned (its result is
   * discarded; the worker is not killed, since a fresh one costs a SEAL instance and contexts).
   * The promise rejects with `signal.reason`.
   */
  readonly signal?: AbortSignal;
  /**
   * Move input `Uint8Array`s to the worker instead of copying (the caller's arrays become empty).
   * Default true; pass false for bytes you reuse, such as keys sent with many tasks.
   */
  readonly transfer?: boolean;
  /**
   * Run on this worker slot only (0 … size − 1), e.g. to drop per-worker state on every worker:
   * the task waits for that slot (a replaced worker keeps its slot) and no other worker takes it.
   */
  readonly worker?: number;
}

/** Counters and gauges, e.g. for Prometheus. Counters only grow. */
export interface PoolStats {
  /** Configured number of workers. */
  readonly size: number;
  /** Workers started and able to take a task now or after their current one. */
  readonly ready: number;
  /** Workers running a task. */
  readonly busy: number;
  /** Tasks waiting for a worker. */
  readonly queued: number;
  readonly completed: number;
  /** Tasks that ended in an error (handler error, crash, timeout). */
  readonly failed: number;
  readonly crashes: number;
  readonly timeouts: number;
  /** Tasks abandoned through their signal. */
  readonly aborted: number;
  /** Tasks refused at submission because the queue was full. */
  readonly rejected: number;
  /** Workers started to replace one that crashed, exited, timed out or failed to start. */
  readonly restarts: number;
  /** Each worker's SEAL WebAssembly memory in bytes as of its last answer (undefined: unknown). */
  readonly wasmHeapBytes: readonly (number | undefined)[];
}

interface Task {
  readonly id: number;
  readonly kind: string;
  readonly payload: TaskValue;
  readonly transfer: boolean;
  readonly timeoutMs: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly worker: number | undefined;
  readonly resolve: (v: TaskValue) => void;
  readonly reject: (e: unknown) => void;
  settled: boolean;
  onAbort: (() => void) | undefined;
}

interface Slot {
  readonly index: number;
  worker: Worker;
  state: 'starting' | 'idle' | 'busy' | 'retiring' | 'dead';
  task: Task | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  lastError: string | undefined;
  heapBytes: number | undefined;
}

/** The pool's queue is full (`HE_POOL_BUSY`): back off and retry later (for HTTP, 503 with Retry-After). */
export class PoolBusyError extends HeError {
  /** Tasks that were waiting when this one was refused. */
  readonly queued: number;
  constructor(kind: string, queued: number) {
    super(
      'HE_POOL_BUSY',
      `cannot run task "${kind}": the worker pool queue is full (${queued} waiting); retry later`,
    );
    this.name = 'PoolBusyError';
    this.queued = queued;
  }
}

const workerUrl = new URL('./worker.ts', import.meta.url);

function toHref(h: URL | string): string {
  if (h instanceof URL) return h.href;
  if (typeof h === 'string' && /^file:/.test(h)) return h;
  if (typeof h === 'string' && h.startsWith('/')) return pathToFileURL(h).href;
  throw new HeError(
    'HE_INVALID_ARGUMENT',
    `cannot create worker pool: "handlers" expected a URL or an absolute path, got ${String(h)}`,
  );
}

function positiveInt(name: string, v: number | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < min)
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot create worker pool: "${name}" expected an integer ≥ ${min}, got ${v}`,
    );
  return v;
}

function checkTimeout(op: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v > 0) || v > 2_147_483_647)
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot ${op}: "timeoutMs" expected a positive number of ms, got ${v}`,
    );
  return v;
}

/**
 * Runs registered task kinds on worker threads, one SEAL instance per worker.
 *
 * @example
 * await using pool = new WorkerPool<typeof handlers>({
 *   handlers: new URL('./my-handlers.ts', import.meta.url),
 * });
 * const out = await pool.run('square', { preset: 'ckks-8192-d2', ct: bytes }, { timeoutMs: 10_000 });
 */
export class WorkerPool<H extends HandlerMap = HandlerMap> {
  /** Number of workers. */
  readonly size: number;
  /** Tasks that may wait for a free worker before {@link run} refuses with {@link PoolBusyError}. */
  readonly maxQueued: number;
  readonly #handlers: readonly string[];
  readonly #defaultTimeout: number | undefined;
  readonly #maxStartFailures: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Task[] = [];
  #nextId = 1;
  #kinds: ReadonlySet<string> | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;
  #broken: string | undefined;
  #startFailures = 0;
  #readyWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #drainWaiters: (() => void)[] = [];
  #wasm: Promise<WebAssembly.Module | undefined>;
  #counts = { completed: 0, failed: 0, crashes: 0, timeouts: 0, aborted: 0, rejected: 0, restarts: 0 };

  constructor(options: WorkerPoolOptions) {
    if (options === null || typeof options !== 'object')
      throw new HeError('HE_INVALID_ARGUMENT', 'cannot create worker pool: "options" expected an object');
    const hs = Array.isArray(options.handlers) ? options.handlers : [options.handlers];
    if (hs.length === 0)
      throw new HeError('HE_INVALID_ARGUMENT', 'cannot create worker pool: "handlers" names no module');
    this.#handlers = Object.freeze(hs.map(toHref));
    this.size = positiveInt('size', options.size, Math.max(1, availableParallelism()));
    this.maxQueued = positiveInt('maxQueued', options.maxQueued, 256, 0);
    this.#maxStartFailures = positiveInt('maxStartFailures', options.maxStartFailures, 3);
    this.#defaultTimeout = checkTimeout('create worker pool', options.taskTimeoutMs);
    // Compile SEAL's WebAssembly once for all workers; a failure only means each compiles its own.
    this.#wasm = _compileSealWasm().catch(() => undefined);
    for (let i = 0; i < this.size; i++) this.#slots.push(this.#spawn(i));
  }

  /**
   * Resolves once every worker has started (SEAL loaded, handler modules imported). Optional:
   * `run` queues until a worker is ready. Rejects with `HE_WORKER_CRASHED` if workers keep failing
   * to start (e.g. a handler module that throws on import).
   */
  ready(): Promise<void> {
    if (this.#broken !== undefined) return Promise.reject(this.#brokenError('start'));
    if (this.#allReady()) return Promise.resolve();
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  /**
   * Runs task `kind` with `payload` on the next free worker and resolves with the handler's result.
   * Rejects with the handler's `HeError` (same code and message) or a {@link TaskError};
   * `HE_WORKER_CRASHED` if the worker died; `HE_WORKER_TIMEOUT`; {@link PoolBusyError}
   * (`HE_POOL_BUSY`) when `maxQueued` tasks already wait (back off and retry); `HE_POOL_CLOSED`
   * after {@link close}.
   */
  run<K extends keyof H & string>(
    kind: K,
    payload: TaskInput<H[K]>,
    options: RunOptions = {},
  ): Promise<TaskOutput<H[K]>> {
    return new Promise<TaskOutput<H[K]>>((resolve, reject) => {
      if (this.#closing) throw new HeError('HE_POOL_CLOSED', `cannot run task "${kind}": the pool is closed`);
      if (typeof kind !== 'string' || kind.length === 0)
        throw new HeError('HE_INVALID_ARGUMENT', 'cannot run task: "kind" expected a non-empty string');
      if (this.#kinds !== undefined && !this.#kinds.has(kind))
        throw new HeError(
          'HE_INVALID_ARGUMENT',
          `cannot run task "${kind}": no such task kind (known: ${[...this.#kinds].join(', ')})`,
        );
      if (this.#broken !== undefined) throw this.#brokenError(`run task "${kind}"`);
      const timeoutMs = checkTimeout(`run task "${kind}"`, options.timeoutMs) ?? this.#defaultTimeout;
      const signal = options.signal;
      const pin = options.worker;
      if (pin !== undefined && !(Number.isInteger(pin) && pin >= 0 && pin < this.size))
        throw new HeError(
          'HE_INVALID_ARGUMENT',
          `cannot run task "${kind}": "worker" expected an integer slot in [0, ${this.size - 1}], got ${String(pin)}`,
        );
      signal?.throwIfAborted();
      const task: Task = {
        id: this.#nextId++,
        kind,
        payload: payload as TaskValue,
        transfer: options.transfer ?? true,
        timeoutMs,
        signal,
        worker: pin,
        resolve: resolve as (v: TaskValue) => void,
        reject,
        settled: false,
        onAbort: undefined,
      };
      const idle = this.#slots.find((s) => s.state === 'idle' && (pin === undefined || s.index === pin));
      if (idle === undefined && this.#queue.length >= this.maxQueued) {
        this.#counts.rejected++;
        throw new PoolBusyError(kind, this.#queue.length);
      }
      if (signal !== undefined) {
        task.onAbort = () => this.#abort(task);
        signal.addEventListener('abort', task.onAbort, { once: true });
      }
      if (idle !== undefined) this.#start(idle, task);
      else this.#queue.push(task);
    });
  }

  /** Current counters and gauges. */
  stats(): PoolStats {
    return {
      size: this.size,
      ready: this.#slots.filter((s) => s.state === 'idle' || s.state === 'busy').length,
      busy: this.#slots.filter((s) => s.state === 'busy').length,
      queued: this.#queue.length,
      ...this.#counts,
      wasmHeapBytes: this.#slots.map((s) => s.heapBytes),
    };
  }

  /**
   * Stops accepting tasks (`HE_POOL_CLOSED`), then either lets queued and running tasks finish
   * (`drain: true`, the default) or fails them with `HE_POOL_CLOSED` at once, and terminates the
   * workers (their WebAssembly memory goes with them). Idempotent.
   */
  close(options: { drain?: boolean } = {}): Promise<void> {
    this.#closing = true;
    if (options.drain === false) this.#failAll('HE_POOL_CLOSED', 'the pool was closed');
    this.#closed ??= (async () => {
      if (this.#queue.length > 0 || this.#slots.some((s) => s.state === 'busy'))
        await new Promise<void>((r) => this.#drainWaiters.push(r));
      const workers = this.#slots.map((s) => {
        s.state = 'dead';
        return s.worker.terminate();
      });
      await Promise.allSettled(workers);
      for (const w of this.#readyWaiters.splice(0))
        w.reject(new HeError('HE_POOL_CLOSED', 'cannot start workers: the pool was closed'));
    })();
    if (options.drain === false) this.#checkDrained();
    return this.#closed;
  }

  /** `await using pool = new WorkerPool(…)` drains and closes at scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #spawn(index: number): Slot {
    const slot: Slot = {
      index,
      // Placeholder until the compiled module is ready and the real worker exists; terminate() on
      // a slot that never started is then a no-op.
      worker: { terminate: async () => 0, ref() {}, unref() {} } as unknown as Worker,
      state: 'starting',
      task: undefined,
      timer: undefined,
      lastError: undefined,
      heapBytes: undefined,
    };
    void this.#wasm.then((wasmModule) => {
      if (slot.state === 'dead') return;
      const workerData: _WorkerData = { workerId: index, handlers: this.#handlers, wasmModule };
      const worker = new Worker(workerUrl, { workerData, name: `blinddx-he-${index}` });
      slot.worker = worker;
      worker.on('message', (m: _WorkerMessage) => this.#onMessage(slot, m));
      worker.on('error', (e) => {
        slot.lastError = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      });
      worker.on('messageerror', (e) => {
        slot.lastError = `message error: ${e.message}`;
      });
      worker.on('exit', (code) => this.#onExit(slot, code));
    });
    return slot;
  }

  #onMessage(slot: Slot, m: _WorkerMessage): void {
    if (slot.state === 'dead') return;
    slot.heapBytes = m.heapBytes;
    if (m.type === 'ready') {
      this.#kinds = new Set(m.kinds);
      this.#startFailures = 0;
      this.#idle(slot);
      if (this.#allReady()) for (const w of this.#readyWaiters.splice(0)) w.resolve();
      return;
    }
    const task = slot.task;
    if (task === undefined || task.id !== m.id) return;
    clearTimeout(slot.timer);
    slot.task = undefined;
    if (m.ok) {
      if (!task.settled) this.#counts.completed++;
      this.#settle(task, () => task.resolve(m.value));
    } else {
      if (!task.settled) {
        this.#counts.failed++;
        if (m.fatal) this.#counts.crashes++;
      }
      this.#settle(task, () => task.reject(_fromWire(m.error)));
    }
    if (m.ok === false && m.fatal) {
      slot.state = 'retiring'; // it exits by itself; #onExit replaces it
      this.#checkDrained();
      return;
    }
    this.#idle(slot);
  }

  #onExit(slot: Slot, code: number): void {
    clearTimeout(slot.timer);
    if (slot.state === 'dead') return;
    const wasStarting = slot.state === 'starting';
    slot.state = 'dead';
    const task = slot.task;
    slot.task = undefined;
    const why = slot.lastError ?? `exit code ${code}`;
    if (task !== undefined) {
      if (!task.settled) {
        this.#counts.failed++;
        this.#counts.crashes++;
      }
      this.#settle(task, () =>
        task.reject(
          new HeError(
            'HE_WORKER_CRASHED',
            `cannot run task "${task.kind}": worker ${slot.index} died (${why}); it is replaced`,
          ),
        ),
      );
    }
    if (wasStarting && ++this.#startFailures >= this.#maxStartFailures) {
      this.#broken = `worker failed to start ${this.#startFailures} times in a row (last: ${why})`;
      const err = this.#brokenError('start');
      for (const w of this.#readyWaiters.splice(0)) w.reject(err);
      this.#failAll('HE_WORKER_CRASHED', this.#broken);
      this.#checkDrained();
      return;
    }
    this.#replace(slot);
  }

  #replace(slot: Slot): void {
    if (
      this.#closed !== undefined &&
      this.#queue.length === 0 &&
      !this.#slots.some((s) => s.state === 'busy')
    ) {
      this.#checkDrained();
      return;
    }
    this.#counts.restarts++;
    this.#slots[slot.index] = this.#spawn(slot.index);
  }

  #start(slot: Slot, task: Task): void {
    slot.state = 'busy';
    slot.task = task;
    slot.worker.ref(); // keep the process alive while work is in flight
    const msg: _RunMessage = { type: 'run', id: task.id, kind: task.kind, payload: task.payload };
    try {
      slot.worker.postMessage(msg, task.transfer ? _transferList(task.payload) : []);
    } catch (e) {
      slot.task = undefined;
      this.#counts.failed++;
      this.#settle(task, () =>
        task.reject(
          new HeError(
            'HE_INVALID_ARGUMENT',
            `cannot run task "${task.kind}": its payload cannot cross threads (${(e as Error).message}); send bytes`,
          ),
        ),
      );
      this.#idle(slot);
      return;
    }
    if (task.timeoutMs !== undefined) {
      slot.timer = setTimeout(() => this.#onTimeout(slot, task), task.timeoutMs);
    }
  }

  #onTimeout(slot: Slot, task: Task): void {
    if (slot.task !== task || slot.state !== 'busy') return;
    slot.state = 'dead';
    slot.task = undefined;
    if (!task.settled) {
      this.#counts.failed++;
      this.#counts.timeouts++;
    }
    this.#settle(task, () =>
      task.reject(
        new HeError(
          'HE_WORKER_TIMEOUT',
          `cannot run task "${task.kind}": no result within ${task.timeoutMs} ms; worker ${slot.index} was terminated and is replaced`,
        ),
      ),
    );
    // Replace at once: terminate() takes ~250 ms and queued tasks should not wait for it.
    void slot.worker.terminate();
    this.#replace(slot);
  }

  #abort(task: Task): void {
    if (task.settled) return;
    const i = this.#queue.indexOf(task);
    if (i >= 0) this.#queue.splice(i, 1);
    this.#counts.aborted++;
    this.#settle(task, () => task.reject(task.signal?.reason));
    this.#checkDrained();
  }

  #settle(task: Task, f: () => void): void {
    if (task.settled) return;
    task.settled = true;
    if (task.onAbort !== undefined) task.signal?.removeEventListener('abort', task.onAbort);
    f();
  }

  #idle(slot: Slot): void {
    slot.state = 'idle';
    while (this.#queue[0]?.settled) this.#queue.shift();
    // The oldest task this slot may take: unpinned, or pinned to it.
    const i = this.#queue.findIndex((t) => !t.settled && (t.worker === undefined || t.worker === slot.index));
    const next = i < 0 ? undefined : this.#queue.splice(i, 1)[0];
    if (next !== undefined) {
      this.#start(slot, next);
      return;
    }
    slot.worker.unref(); // an idle pool must not keep the process alive
    this.#checkDrained();
  }

  #failAll(code: 'HE_POOL_CLOSED' | 'HE_WORKER_CRASHED', why: string): void {
    for (const task of this.#queue.splice(0)) {
      this.#counts.failed++;
      this.#settle(task, () => task.reject(new HeError(code, `cannot run task "${task.kind}": ${why}`)));
    }
    if (code !== 'HE_POOL_CLOSED') return;
    for (const slot of this.#slots) {
      const task = slot.task;
      if (task === undefined || task.settled) continue;
      this.#counts.failed++;
      this.#settle(task, () => task.reject(new HeError(code, `cannot run task "${task.kind}": ${why}`)));
      // The worker is terminated by close(); mark it free so close() does not wait for it.
      clearTimeout(slot.timer);
      slot.task = undefined;
      slot.state = 'dead';
    }
  }

  #checkDrained(): void {
    if (this.#queue.length > 0) return;
    if (this.#slots.some((s) => s.state === 'busy' && s.task !== undefined && !s.task.settled)) return;
    for (const r of this.#drainWaiters.splice(0)) r();
  }

  #allReady(): boolean {
    return this.#slots.every((s) => s.state === 'idle' || s.state === 'busy');
  }

  #brokenError(what: string): HeError {
    return new HeError('HE_WORKER_CRASHED', `cannot ${what}: ${this.#broken}`);
  }
}
