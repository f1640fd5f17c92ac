/**
 * Messages between the page and the HE worker (`worker.ts`). The worker holds the only copy of the
 * secret key in memory; the page gets sizes, timings, public bytes' digests and the decrypted class
 * probabilities — never key bytes, the embedding or the image after it was handed over.
 */
import type { SealedSecret } from '../../client/key-vault.ts';
import type { DecodedImage } from '../../nn/preprocess.ts';
import type { PublicKeyJwk } from '../../protocol/ed25519.ts';

export type StepId = 'keys' | 'bundle' | 'backbone' | 'embed' | 'encrypt' | 'send' | 'decrypt';

export interface KeygenResult {
  readonly sealed: SealedSecret;
  readonly keySetId: string;
  readonly preset: string;
  readonly ringDegree: number;
  /** Serialized (seeded) public key: what registration uploads. */
  readonly publicKeyBytes: number;
  /** The secret key's SEAL serialization, before sealing (never leaves the worker). */
  readonly secretKeyBytes: number;
  readonly timingsMs: { readonly context: number; readonly keygen: number; readonly seal: number };
}

export interface UnlockResult {
  readonly keySetId: string;
  readonly preset: string;
  readonly ringDegree: number;
  readonly publicKeyBytes: number;
  readonly secretKeyBytes: number;
  readonly timingsMs: { readonly context: number; readonly open: number; readonly keys: number };
}

/** A client id known for a model under the current key set. */
export interface ClientIdEntry {
  readonly clientId: string;
  readonly expiresAt: string;
}

export interface DiagnoseArgs {
  readonly baseUrl: string;
  readonly token: string;
  readonly modelId: string;
  readonly publisherKeys: readonly PublicKeyJwk[];
  readonly serverKeys: readonly PublicKeyJwk[];
  /** Transferred to the worker (the page keeps only its preview canvas). */
  readonly image: DecodedImage;
  readonly clientIds: Readonly<Record<string, ClientIdEntry>>;
}

/** One HTTP request the worker sent, as the step panel shows it. */
export interface SentRequest {
  readonly method: string;
  readonly path: string;
  readonly contentType: string | null;
  readonly bytes: number;
  /** Hex of the first bytes of the body (empty for GET/DELETE). */
  readonly head: string;
  /** For a parts container: its part names and sizes. */
  readonly parts?: readonly { readonly name: string; readonly bytes: number }[];
  readonly status: number;
  readonly responseBytes: number;
  readonly ms: number;
}

export interface DiagnoseResult {
  readonly modelId: string;
  readonly version: string;
  readonly preset: string;
  readonly modelDigest: string;
  readonly classes: readonly string[];
  readonly probabilities: readonly number[];
  readonly predicted: number;
  readonly clientId: string;
  /** Set when this scan registered the public key (first use for this model and key set). */
  readonly registered: ClientIdEntry | null;
  readonly requestId: string | null;
  readonly signature: {
    readonly verified: true;
    readonly serverKid: string;
    readonly signedAt: string;
    readonly requestDigest: string;
    readonly resultDigest: string;
  };
  readonly local: {
    readonly sourceWidth: number;
    readonly sourceHeight: number;
    readonly sourceChannels: number;
    readonly inputShape: readonly number[];
    readonly embeddingDim: number;
    readonly backboneFile: string;
    readonly backboneDigest: string;
    readonly backboneBytes: number;
    readonly backboneCached: boolean;
  };
  readonly bytes: { readonly up: number; readonly down: number; readonly keyUpload: number };
  readonly timingsMs: {
    readonly bundle: number;
    readonly backboneLoad: number;
    readonly preprocess: number;
    readonly embed: number;
    readonly encrypt: number;
    readonly register: number;
    readonly infer: number;
    readonly decrypt: number;
    readonly total: number;
  };
  readonly requests: readonly SentRequest[];
}

export type WorkerRequest =
  | { readonly id: number; readonly op: 'keygen'; readonly preset: string; readonly passphrase: string }
  | {
      readonly id: number;
      readonly op: 'unlock';
      readonly preset: string;
      readonly sealed: SealedSecret;
      readonly passphrase: string;
    }
  | { readonly id: number; readonly op: 'lock' }
  | { readonly id: number; readonly op: 'diagnose'; readonly args: DiagnoseArgs };

export type WorkerMessage =
  | { readonly id: number; readonly type: 'progress'; readonly step: StepId; readonly note: string }
  | { readonly id: number; readonly type: 'done'; readonly result: unknown }
  | { readonly id: number; readonly type: 'error'; readonly code: string; readonly message: string };
