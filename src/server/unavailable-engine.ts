/**
 * The engine `npm start` uses until the SEAL engine from `src/he` is wired in: it loads no model
 * and computes nothing, so the service runs (health, registration refusals, audit, metrics) with
 * an empty model list instead of pretending to infer.
 */
import { BlindDxError } from '../protocol/errors.ts';
import type { InferenceEngine } from './engine.ts';

export function unavailableEngine(): InferenceEngine {
  const refuse = (what: string): never => {
    throw new BlindDxError('NOT_READY', `${what}: no inference engine is wired into this build yet`);
  };
  return Object.freeze({
    loadModel: async () => refuse('load model'),
    validateKeyMaterial: async () => refuse('validate key material'),
    infer: async () => refuse('infer'),
    close: async () => {},
  });
}
