/**
 * JSON Schemas (draft-07, as Fastify and OpenAPI 3.0 read them) and the matching types for every
 * JSON body of the HTTP API. Binary bodies are described in `wire.ts` and `parts-container.ts`.
 */
import type { PublicKeyJwk } from './ed25519.ts';
import type { ErrorCode } from './errors.ts';
import { ERROR_STATUS } from './errors.ts';
import type { ClientManifest } from './model-bundle.ts';
import type { SignedDocument } from './signed-document.ts';

const _digest = { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' } as const;

export const errorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_STATUS) },
        message: { type: 'string' },
        requestId: { type: 'string' },
      },
    },
  },
} as const;

export interface HealthBody {
  readonly status: 'ok';
  readonly version: string;
}
export const healthSchema = {
  $id: 'Health',
  type: 'object',
  required: ['status', 'version'],
  properties: { status: { type: 'string', enum: ['ok'] }, version: { type: 'string' } },
} as const;

export interface ReadyBody {
  readonly ready: boolean;
  readonly models: number;
  readonly store: 'ok' | 'error';
  readonly queue: { readonly active: number; readonly queued: number };
}
export const readySchema = {
  $id: 'Ready',
  type: 'object',
  required: ['ready', 'models', 'store', 'queue'],
  properties: {
    ready: { type: 'boolean' },
    models: { type: 'integer' },
    store: { type: 'string', enum: ['ok', 'error'] },
    queue: {
      type: 'object',
      required: ['active', 'queued'],
      properties: { active: { type: 'integer' }, queued: { type: 'integer' } },
    },
  },
} as const;

export interface ModelSummary {
  readonly modelId: string;
  readonly version: string;
  readonly preset: string;
  readonly modelDigest: string;
  readonly classes: readonly string[];
  /** `split-head` (embedding flow), `cnn` (image flow), `cnn-packed` (tiled flow, packed); absent from older services. */
  readonly kind?: string;
}
export interface ModelListBody {
  readonly models: readonly ModelSummary[];
}
export const modelListSchema = {
  $id: 'ModelList',
  type: 'object',
  required: ['models'],
  properties: {
    models: {
      type: 'array',
      items: {
        type: 'object',
        required: ['modelId', 'version', 'preset', 'modelDigest', 'classes'],
        properties: {
          modelId: { type: 'string' },
          version: { type: 'string' },
          preset: { type: 'string' },
          modelDigest: _digest,
          classes: { type: 'array', items: { type: 'string' } },
          kind: { type: 'string' },
        },
      },
    },
  },
} as const;

/** `GET /v1/models/:id`: the signed client part, exactly as the publisher signed it. */
export type ModelBundleBody = SignedDocument<ClientManifest>;
export const modelBundleSchema = {
  $id: 'ClientBundle',
  type: 'object',
  required: ['payload', 'signature'],
  properties: {
    payload: { type: 'object', additionalProperties: true },
    signature: {
      type: 'object',
      required: ['alg', 'kid', 'sig'],
      properties: { alg: { type: 'string' }, kid: { type: 'string' }, sig: { type: 'string' } },
    },
  },
} as const;

export interface ClientRegisteredBody {
  readonly clientId: string;
  readonly modelId: string;
  readonly materialDigest: string;
  readonly bytes: number;
  /** ISO 8601; the key material is deleted after this time. */
  readonly expiresAt: string;
}
export const clientRegisteredSchema = {
  $id: 'ClientRegistered',
  type: 'object',
  required: ['clientId', 'modelId', 'materialDigest', 'bytes', 'expiresAt'],
  properties: {
    clientId: { type: 'string' },
    modelId: { type: 'string' },
    materialDigest: _digest,
    bytes: { type: 'integer' },
    expiresAt: { type: 'string' },
  },
} as const;

/** `GET /v1/server-key`: the key that signs responses (pin it out of band where possible). */
export type ServerKeyBody = { readonly keys: readonly PublicKeyJwk[] };
export const serverKeySchema = {
  $id: 'ServerKey',
  type: 'object',
  required: ['keys'],
  properties: {
    keys: {
      type: 'array',
      items: {
        type: 'object',
        required: ['kty', 'crv', 'x', 'kid'],
        properties: {
          kty: { type: 'string' },
          crv: { type: 'string' },
          x: { type: 'string' },
          kid: { type: 'string' },
        },
      },
    },
  },
} as const;

/**
 * `GET /v1/publisher-keys`: the publisher keys this service trusts for its model bundles. A client
 * should pin them (or get them out of band): a bundle must verify against a key the client trusts.
 */
export type PublisherKeysBody = { readonly keys: readonly PublicKeyJwk[] };
export const publisherKeysSchema = { ...serverKeySchema, $id: 'PublisherKeys' } as const;

/** Header on `GET /v1/models/:id/files/:name`: the file's SHA-256, as the signed manifest pins it. */
export const FILE_DIGEST_HEADER = 'x-blinddx-file-digest';

/** Parts a `POST /v1/clients` container carries. `meta` is JSON: `{ "modelId": "…" }`. */
export const REGISTER_PARTS = Object.freeze(['meta', 'publicKey', 'relinKeys', 'galoisKeys'] as const);

/** Every schema with an `$id`, for registration with Fastify and the OpenAPI components. */
export const sharedSchemas = Object.freeze([
  errorBodySchema,
  healthSchema,
  readySchema,
  modelListSchema,
  modelBundleSchema,
  clientRegisteredSchema,
  serverKeySchema,
  publisherKeysSchema,
]);

export type { ErrorCode };
