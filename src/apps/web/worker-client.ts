/**
 * The page's side of the HE worker: one promise per request, progress callbacks per step. Errors
 * come back with the code the worker's layers threw (e.g. `VAULT_WRONG_PASSPHRASE`).
 */
import type {
  DiagnoseArgs,
  DiagnoseResult,
  KeygenResult,
  StepId,
  UnlockResult,
  WorkerMessage,
  WorkerRequest,
} from './worker-protocol.ts';

export class WorkerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'WorkerError';
    this.code = code;
  }
}

type Pending = {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  progress?: (step: StepId, note: string) => void;
};

// Distributes Omit over the request union (plain Omit would collapse it).
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export class HeWorker {
  readonly #w: Worker;
  readonly #pending = new Map<number, Pending>();
  #next = 1;

  constructor() {
    this.#w = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'blinddx-he' });
    this.#w.onmessage = (e: MessageEvent<WorkerMessage>) => {
      const m = e.data;
      const p = this.#pending.get(m.id);
      if (p === undefined) return;
      if (m.type === 'progress') p.progress?.(m.step, m.note);
      else {
        this.#pending.delete(m.id);
        if (m.type === 'done') p.resolve(m.result);
        else p.reject(new WorkerError(m.code, m.message));
      }
    };
    this.#w.onerror = (e) => {
      for (const p of this.#pending.values()) p.reject(new WorkerError('WORKER_FAILED', e.message));
      this.#pending.clear();
    };
  }

  #call<T>(
    req: WithoutId<WorkerRequest>,
    progress?: Pending['progress'],
    transfer: Transferable[] = [],
  ): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, progress });
      this.#w.postMessage({ ...req, id }, transfer);
    });
  }

  keygen(preset: string, passphrase: string, progress?: Pending['progress']): Promise<KeygenResult> {
    return this.#call({ op: 'keygen', preset, passphrase }, progress);
  }
  unlock(
    preset: string,
    sealed: Extract<WorkerRequest, { op: 'unlock' }>['sealed'],
    passphrase: string,
    progress?: Pending['progress'],
  ): Promise<UnlockResult> {
    return this.#call({ op: 'unlock', preset, sealed, passphrase }, progress);
  }
  lock(): Promise<void> {
    return this.#call({ op: 'lock' });
  }
  diagnose(args: DiagnoseArgs, progress?: Pending['progress']): Promise<DiagnoseResult> {
    // A copy of the pixels moves to the worker; the page keeps its own for the preview and re-runs.
    const data = args.image.data.slice();
    return this.#call({ op: 'diagnose', args: { ...args, image: { ...args.image, data } } }, progress, [
      data.buffer as ArrayBuffer,
    ]);
  }
}
