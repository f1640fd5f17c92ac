// What every route plugin receives: the service's collaborators, built once by `buildApp`.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PrivateKeyJwk } from '../protocol/ed25519.ts';
import type { ComputeQueue } from './compute-queue.ts';
import type { ServerConfig } from './config.ts';
import type { InferenceEngine, KeyMaterial } from './engine.ts';
import type { ServiceMetrics } from './metrics.ts';
import type { ModelRegistry } from './model-registry.ts';
import type { Org, Store } from './store/store.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's organisation, set by `authenticate`. */
    org: Org | null;
  }
}

export interface ServiceContext {
  readonly config: ServerConfig;
  readonly store: Store;
  readonly engine: InferenceEngine;
  readonly models: ModelRegistry;
  readonly queue: ComputeQueue;
  readonly metrics: ServiceMetrics;
  readonly responseKey: PrivateKeyJwk;
  readonly clock: () => number;
  /** Set when shutdown begins; readiness turns false. */
  readonly state: { closing: boolean };
  /** preHandler: requires `Authorization: Bearer <token>`, sets `request.org`. */
  readonly authenticate: (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** Key material by org + digest, through a small cache (material is immutable per digest). */
  readonly keyMaterial: (orgId: string, digest: `sha256:${string}`) => Promise<KeyMaterial | null>;
}

/** Options every route plugin is registered with. */
export interface RouteOptions {
  readonly ctx: ServiceContext;
}
