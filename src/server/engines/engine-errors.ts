/**
 * Error and key-material helpers shared by the worker-pool engines (`CnnEngine`,
 * `SealHeadEngine`): bundle-mismatch errors, the mapping of pool and worker failures to the
 * protocol's error catalog, and the key material a worker task carries.
 */
import { HeError } from '../../he/errors.ts';
import { TaskError } from '../../he/node/worker-pool.ts';
import { BlindDxError, isErrorCode } from '../../protocol/errors.ts';
import type { KeyMaterial } from '../engine.ts';

/** Rejects a model bundle that is not consistent with itself (MODEL_BUNDLE_MISMATCH). */
export function bundleMismatch(modelId: string, why: string): never {
  throw new BlindDxError('MODEL_BUNDLE_MISMATCH', `cannot load model ${modelId}: ${why}`);
}

/**
 * Maps pool and worker failures to catalog codes; coded worker errors keep code and message. An
 * abort's own reason is rethrown as is; anything else unknown is rethrown unchanged.
 */
export function rethrowEngineError(e: unknown, signal?: AbortSignal): never {
  if (signal?.aborted && e === signal.reason) throw e;
  if (e instanceof TaskError && isErrorCode(e.code)) throw new BlindDxError(e.code, e.message);
  if (e instanceof HeError) {
    if (e.code === 'HE_WORKER_TIMEOUT') throw new BlindDxError('TIMEOUT', `engine: ${e.message}`);
    if (e.code === 'HE_POOL_BUSY')
      throw new BlindDxError('QUEUE_FULL', `engine: ${e.message}`, { retryAfterSeconds: 1 });
    if (e.code === 'HE_POOL_CLOSED') throw new BlindDxError('NOT_READY', `engine: ${e.message}`);
  }
  throw e;
}

/** The key material a worker task carries: the public key plus whichever optional keys were sent. */
export function taskKeyMaterial(m: KeyMaterial) {
  return {
    publicKey: m.publicKey,
    ...(m.relinKeys === undefined ? {} : { relinKeys: m.relinKeys }),
    ...(m.galoisKeys === undefined ? {} : { galoisKeys: m.galoisKeys }),
  };
}
