/**
 * What the service needs from the encrypted-inference layer. The service owns HTTP, auth, quotas,
 * admission, signing and audit; an engine owns SEAL: parsing untrusted key and ciphertext bytes
 * defensively, and evaluating a verified model on them (in its own worker pool).
 *
 * Errors: throw a `BlindDxError` (src/protocol/errors.ts) — or any error whose `code` is a catalog
 * code — with `BAD_KEY_MATERIAL` / `BAD_CIPHERTEXT` (422) for bytes the caller sent wrong. Any other
 * error is answered as `INTERNAL` (500) with its details hidden and logged.
 */
import type { Digest } from '../protocol/digest.ts';
import type { ClientManifest, ServerManifest } from '../protocol/model-bundle.ts';

/** A client's public evaluation material, as uploaded. Never a secret key. */
export interface KeyMaterial {
  readonly publicKey: Uint8Array;
  readonly relinKeys?: Uint8Array;
  readonly galoisKeys?: Uint8Array;
}

/** A model whose bundle signatures and file digests the service has already checked. */
export interface VerifiedModel {
  readonly modelId: string;
  readonly version: string;
  readonly modelDigest: Digest;
  readonly client: ClientManifest;
  readonly server: ServerManifest;
  /** The server part's files by name, each matching its signed digest. */
  readonly files: ReadonlyMap<string, Uint8Array>;
}

export interface InferRequest {
  readonly modelId: string;
  readonly clientId: string;
  /** Key material as registered; the engine may cache parsed keys by `materialDigest`. */
  readonly material: KeyMaterial;
  readonly materialDigest: Digest;
  /** One ciphertext per input (a batch is several); size-limited, each owning its ArrayBuffer (transferable). */
  readonly inputs: readonly Uint8Array[];
  /** Aborted at the request deadline (504 TIMEOUT); the engine should stop work it has not started. Shutdown drains instead of aborting. */
  readonly signal: AbortSignal;
}

/** Counters an engine may report for `/v1/metrics`. */
export interface EngineStats {
  readonly workerRestarts: number;
  readonly workers: number;
}

export interface InferenceEngine {
  /** Prepares a verified model for inference (called once per model at startup). */
  loadModel(model: VerifiedModel): Promise<void>;
  /** Validates uploaded public material for a model's preset; throws `BAD_KEY_MATERIAL` on bad bytes. */
  validateKeyMaterial(modelId: string, material: KeyMaterial): Promise<{ bytes: number }>;
  /** Runs the model; returns one result ciphertext per input. Throws `BAD_CIPHERTEXT` for bad inputs. */
  infer(req: InferRequest): Promise<Uint8Array[]>;
  /**
   * Optional: the client with this material was deleted or expired; drop whatever the engine
   * caches for it (parsed keys, per-client precomputation). Best effort — a later infer for the
   * same material simply reloads it.
   */
  forgetClient?(modelId: string, materialDigest: Digest): Promise<unknown>;
  /** Optional counters for metrics. */
  stats?(): EngineStats;
  /** Frees workers and WebAssembly memory; called once at shutdown after in-flight work drained. */
  close(): Promise<void>;
}
