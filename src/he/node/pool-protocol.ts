// What crosses between the pool (main thread) and its workers. Only bytes and small scalars do:
// SEAL objects live in one thread's WebAssembly memory and never cross, so a task ships serialized
// ciphertexts/keys in and serialized results out.

import type { HeContext } from '../context.ts';
import { HE_ERROR_CODES, HeError, type HeErrorCode } from '../errors.ts';

/**
 * A value a task takes or returns: bytes, small scalars, and arrays/records of them. `Uint8Array`s
 * that own their whole buffer are transferred (moved, not copied) across the thread boundary.
 */
export type TaskValue =
  | Uint8Array
  | string
  | number
  | boolean
  | null
  | undefined
  | readonly TaskValue[]
  | { readonly [key: string]: TaskValue };

/** What a handler gets besides its payload: the worker's own SEAL-backed resources. */
export interface WorkerEnv {
  /** Index of the worker slot in the pool (a replaced worker keeps its slot's index). */
  readonly workerId: number;
  /**
   * The worker's context for a preset, created on first use and cached for the worker's life
   * (context creation costs 0.1–3 s, so it must not be paid per task). Do not dispose it.
   */
  context(preset: string): Promise<HeContext>;
  /**
   * Per-worker state that survives between tasks (e.g. parsed evaluation keys by digest). Values
   * are this worker's own; the pool never reads them. Lost when the worker is replaced.
   */
  readonly state: Map<string, unknown>;
}

/** A task kind's implementation, run inside a worker. Throw `HeError`s for expected failures. */
export type TaskHandler<I extends TaskValue = any, O extends TaskValue = any> = (
  payload: I,
  env: WorkerEnv,
) => O | Promise<O>;

/** The `handlers` export of a handler module: task kind → handler. */
export type HandlerMap = Readonly<Record<string, TaskHandler>>;

/**
 * Identity helper that keeps a handler map's precise types, so the pool can type `run()`.
 *
 * @example
 * // my-handlers.ts
 * export const handlers = defineHandlers({
 *   echo: (p: Uint8Array) => p,
 * });
 * // caller
 * const pool = new WorkerPool<typeof handlers>({ handlers: new URL('./my-handlers.ts', import.meta.url) });
 * const out: Uint8Array = await pool.run('echo', bytes);
 */
export function defineHandlers<H extends HandlerMap>(handlers: H): H {
  return handlers;
}

/** Payload type of a handler. */
export type TaskInput<F> = F extends (payload: infer I, env: WorkerEnv) => unknown ? I : never;
/** Result type of a handler. */
export type TaskOutput<F> = F extends (...args: any[]) => infer O ? Awaited<O> : never;

/**
 * An error a handler threw that is not an {@link HeError}, re-created on the caller's side with
 * the original `name`, `message` and `code` (e.g. a server handler's catalog code), nothing else.
 */
export class TaskError extends Error {
  readonly code: string | undefined;
  constructor(name: string, message: string, code: string | undefined) {
    super(message);
    this.name = name;
    this.code = code;
  }
}

/** @internal An error as it crosses threads: code and message only (never stacks or causes). */
export interface _WireError {
  readonly name: string;
  readonly message: string;
  readonly code: string | undefined;
}

/** @internal main → worker. */
export interface _RunMessage {
  readonly type: 'run';
  readonly id: number;
  readonly kind: string;
  readonly payload: TaskValue;
}

/** @internal worker → main. */
export type _WorkerMessage =
  | { readonly type: 'ready'; readonly kinds: readonly string[]; readonly heapBytes: number | undefined }
  | {
      readonly type: 'done';
      readonly id: number;
      readonly ok: true;
      readonly value: TaskValue;
      readonly heapBytes: number | undefined;
    }
  | {
      readonly type: 'done';
      readonly id: number;
      readonly ok: false;
      readonly error: _WireError;
      /** The worker's SEAL instance is unusable; it exits right after this message. */
      readonly fatal: boolean;
      readonly heapBytes: number | undefined;
    };

/** @internal data a worker starts with. */
export interface _WorkerData {
  readonly workerId: number;
  readonly handlers: readonly string[];
  readonly wasmModule: WebAssembly.Module | undefined;
}

/** @internal */
export function _toWire(e: unknown): _WireError {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { name: e.name, message: e.message, code: typeof code === 'string' ? code : undefined };
  }
  return { name: 'Error', message: String(e), code: undefined };
}

const heCodes: ReadonlySet<string> = new Set(HE_ERROR_CODES);

/** @internal `HeError` stays an `HeError` (same code and message); anything else is a {@link TaskError}. */
export function _fromWire(w: _WireError): Error {
  if (w.name === 'HeError' && w.code !== undefined && heCodes.has(w.code))
    return new HeError(w.code as HeErrorCode, w.message);
  return new TaskError(w.name, w.message, w.code);
}

/**
 * @internal Buffers to transfer for a value: each `Uint8Array` that spans its whole, non-shared
 * buffer. Views into a larger buffer (e.g. Node's pooled `Buffer`s) are copied instead, because
 * transferring would detach memory the caller still uses for other data.
 */
export function _transferList(v: TaskValue, out: ArrayBuffer[] = []): ArrayBuffer[] {
  if (v instanceof Uint8Array) {
    const b = v.buffer;
    if (
      b instanceof ArrayBuffer &&
      v.byteOffset === 0 &&
      v.byteLength === b.byteLength &&
      b.byteLength > 0 &&
      !out.includes(b)
    )
      out.push(b);
  } else if (Array.isArray(v)) {
    for (const x of v) _transferList(x, out);
  } else if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v)) _transferList(x as TaskValue, out);
  }
  return out;
}
