// Entry point of one pool worker: its own SEAL instance, the handler modules the pool named, and a
// loop that runs one task at a time (SEAL calls are synchronous; the pool never sends a second task
// before the first is answered).

import { parentPort, workerData } from 'node:worker_threads';
import { HeContext } from '../context.ts';
import { HeError } from '../errors.ts';
import { _trackWasmHeap, _wasmHeapBytes } from './_wasm-heap.ts';
import {
  type _RunMessage,
  _toWire,
  _transferList,
  type _WorkerData,
  type _WorkerMessage,
  type TaskHandler,
  type TaskValue,
  type WorkerEnv,
} from './pool-protocol.ts';

const port = parentPort;
if (port === null) throw new Error('worker.ts must run as a worker thread (started by WorkerPool)');
const data = workerData as _WorkerData;

// Before any handler module can load SEAL: capture the memory for the heap gauge, and reuse the
// module the pool compiled once.
_trackWasmHeap(data.wasmModule);

const handlers = new Map<string, TaskHandler>();
for (const url of data.handlers) {
  const mod = (await import(url)) as { handlers?: unknown };
  if (mod.handlers === null || typeof mod.handlers !== 'object') {
    throw new Error(`handler module ${url} has no "handlers" export (expected an object of functions)`);
  }
  for (const [kind, f] of Object.entries(mod.handlers)) {
    if (typeof f !== 'function') throw new Error(`handler "${kind}" in ${url} is not a function`);
    if (handlers.has(kind)) throw new Error(`handler "${kind}" is defined twice (second in ${url})`);
    handlers.set(kind, f as TaskHandler);
  }
}

const contexts = new Map<string, Promise<HeContext>>();
const env: WorkerEnv = Object.freeze({
  workerId: data.workerId,
  state: new Map<string, unknown>(),
  context(preset: string): Promise<HeContext> {
    let c = contexts.get(preset);
    if (c === undefined) {
      c = HeContext.create(preset);
      // A failed creation (unknown preset) must not be cached: the next task may ask correctly.
      c.catch(() => contexts.delete(preset));
      contexts.set(preset, c);
    }
    return c;
  },
});

/**
 * A WebAssembly trap (out-of-bounds access, `unreachable`, Emscripten abort) or `std::bad_alloc`
 * leaves the instance in an unknown state: after a bad_alloc, the next `.delete()` hangs forever.
 * Such a worker must not take another task.
 */
function isFatal(e: unknown): boolean {
  for (let x = e, depth = 0; x !== undefined && x !== null && depth < 5; depth++) {
    if (x instanceof WebAssembly.RuntimeError) return true;
    const message = x instanceof Error ? x.message : String(x);
    if (/bad_alloc|out of memory|Memory\.grow/i.test(message)) return true;
    x = (x as { cause?: unknown }).cause;
  }
  return false;
}

function post(msg: _WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

async function run(msg: _RunMessage): Promise<void> {
  const handler = handlers.get(msg.kind);
  try {
    if (handler === undefined) {
      throw new HeError(
        'HE_INVALID_ARGUMENT',
        `cannot run task "${msg.kind}": no such task kind (known: ${[...handlers.keys()].join(', ')})`,
      );
    }
    const value = (await handler(msg.payload, env)) as TaskValue;
    try {
      post({ type: 'done', id: msg.id, ok: true, value, heapBytes: _wasmHeapBytes() }, _transferList(value));
    } catch (e) {
      // A handler returned something structured clone refuses (a function, a SEAL object, …).
      throw new HeError(
        'HE_INVALID_ARGUMENT',
        `cannot return the result of task "${msg.kind}": it cannot cross threads (${(e as Error).message}); return bytes`,
      );
    }
  } catch (e) {
    const fatal = isFatal(e);
    const error = fatal
      ? {
          name: 'HeError',
          code: 'HE_WORKER_CRASHED',
          message: `cannot run task "${msg.kind}": the worker's WebAssembly instance failed (${_toWire(e).message}); the worker is replaced`,
        }
      : _toWire(e);
    post({ type: 'done', id: msg.id, ok: false, error, fatal, heapBytes: _wasmHeapBytes() });
    // Exit rather than dispose: disposing after a bad_alloc is exactly what hangs.
    if (fatal) process.exit(70);
  }
}

port.on('message', (msg: _RunMessage) => {
  if (msg?.type === 'run') void run(msg);
});
post({ type: 'ready', kinds: [...handlers.keys()], heapBytes: _wasmHeapBytes() });
