/**
 * `buildApp` assembles the service and returns it without listening (the entry point listens;
 * tests use `app.inject()` or listen on port 0). Routes are plugins per resource; every collaborator
 * comes in through `deps`, so tests swap the engine and the clock.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Digest } from '../protocol/digest.ts';
import type { PrivateKeyJwk, PublicKeyJwk } from '../protocol/ed25519.ts';
import { BlindDxError } from '../protocol/errors.ts';
import { sharedSchemas } from '../protocol/schemas.ts';
import { CONTENT_TYPE_BINARY, CONTENT_TYPE_PARTS, HEADER } from '../protocol/wire.ts';
import { ComputeQueue } from './compute-queue.ts';
import type { ServerConfig } from './config.ts';
import type { ServiceContext } from './context.ts';
import type { InferenceEngine, KeyMaterial } from './engine.ts';
import { errorHandler } from './http-errors.ts';
import { loggerOptions } from './logging.ts';
import { createServiceMetrics } from './metrics.ts';
import type { ModelRegistry } from './model-registry.ts';
import type { RouteEntry } from './openapi.ts';
import type { RouteDoc } from './route-doc.ts';
import { clientRoutes } from './routes/clients.ts';
import { healthRoutes } from './routes/health.ts';
import { inferRoutes } from './routes/infer.ts';
import { modelRoutes } from './routes/models.ts';
import { operationsRoutes } from './routes/operations.ts';
import { webRoutes } from './routes/web.ts';
import type { Store } from './store/store.ts';

export interface AppDeps {
  readonly store: Store;
  readonly engine: InferenceEngine;
  readonly models: ModelRegistry;
  readonly responseKey: PrivateKeyJwk;
  /** Publisher keys trusted for model bundles, published at `GET /v1/publisher-keys` (default none). */
  readonly publisherKeys?: readonly PublicKeyJwk[];
  /** Milliseconds since the epoch; tests move time. */
  readonly clock?: () => number;
  /** Fastify logger option; default: JSON lines at `config.logLevel` with PHI-free serializers. */
  readonly logger?: FastifyServerOptions['logger'];
}

const _routeTables = new WeakMap<FastifyInstance, readonly RouteEntry[]>();

/** Every route `buildApp` registered (HEAD twins excluded), with its documentation. */
export function listRoutes(app: FastifyInstance): readonly RouteEntry[] {
  return _routeTables.get(app) ?? [];
}

const _tokenRe = /^Bearer ([A-Za-z0-9_-]{16,256})$/;

/** The service as a Fastify instance, routes registered, not listening. */
export async function buildApp(config: ServerConfig, deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? loggerOptions(config.logLevel),
    genReqId: () => `rq_${randomBytes(12).toString('hex')}`,
    requestIdHeader: false,
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
  });
  const queue = new ComputeQueue(config.compute);
  const materialCache = new Map<string, KeyMaterial>();
  const ctx: ServiceContext = {
    config,
    store: deps.store,
    engine: deps.engine,
    models: deps.models,
    queue,
    metrics: createServiceMetrics({
      queueActive: () => queue.snapshot().active,
      queueQueued: () => queue.snapshot().queued,
      workerRestarts: () => deps.engine.stats?.().workerRestarts ?? 0,
      modelsLoaded: () => deps.models.list().length,
    }),
    responseKey: deps.responseKey,
    clock: deps.clock ?? Date.now,
    state: { closing: false },
    authenticate: async (req) => {
      const m = _tokenRe.exec(req.headers.authorization ?? '');
      if (m === null)
        throw new BlindDxError('UNAUTHORIZED', 'expected Authorization: Bearer <organisation token>');
      const org = await deps.store.orgByToken(m[1]);
      if (org === null) throw new BlindDxError('UNAUTHORIZED', 'unknown or revoked token');
      req.org = org;
    },
    keyMaterial: async (orgId: string, digest: Digest) => {
      const k = `${orgId}/${digest}`;
      const hit = materialCache.get(k);
      if (hit !== undefined) return hit;
      const m = await deps.store.getKeyMaterial(orgId, digest);
      if (m !== null) {
        // At most 8 entries and 192 MiB: an encrypted CNN's keys alone are ~90 MB.
        const size = (x: KeyMaterial) =>
          x.publicKey.length + (x.relinKeys?.length ?? 0) + (x.galoisKeys?.length ?? 0);
        let total = size(m);
        for (const v of materialCache.values()) total += size(v);
        while (materialCache.size > 0 && (materialCache.size >= 8 || total > 192 * 1024 * 1024)) {
          const oldest = materialCache.keys().next().value!;
          total -= size(materialCache.get(oldest)!);
          materialCache.delete(oldest);
        }
        materialCache.set(k, m);
      }
      return m;
    },
  };

  app.decorateRequest('org', null);
  for (const s of sharedSchemas) app.addSchema(s);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req) => {
    throw new BlindDxError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`);
  });
  app.addContentTypeParser(
    [CONTENT_TYPE_BINARY, CONTENT_TYPE_PARTS],
    { parseAs: 'buffer' },
    (_req, body, done) => done(null, body),
  );

  app.addHook('onRequest', async (req, reply) => {
    reply.header(HEADER.requestId, req.id);
    const enc = req.headers['content-encoding'];
    // Compressed uploads are refused outright (decompression bombs), not inflated.
    if (enc !== undefined && enc.trim().toLowerCase() !== 'identity') {
      throw new BlindDxError(
        'UNSUPPORTED_MEDIA_TYPE',
        `compressed request bodies are refused (Content-Encoding: ${enc})`,
      );
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    ctx.metrics.httpRequests.inc({ route, method: req.method, status: String(reply.statusCode) });
    ctx.metrics.httpDuration.observe({ route }, reply.elapsedTime / 1000);
  });
  app.addHook('onSend', async (_req, reply) => {
    // While shutting down, every response closes its connection, so keep-alive sockets cannot hold the drain open.
    if (ctx.state.closing) reply.header('connection', 'close');
  });
  app.addHook('preClose', async () => {
    ctx.state.closing = true;
  });
  app.addHook('onClose', async () => {
    // In-flight HTTP requests have finished by now; wait for engine work they left running (timeouts).
    await queue.drained();
  });

  const routes: RouteEntry[] = [];
  app.addHook('onRoute', (opts) => {
    for (const method of [opts.method].flat()) {
      if (method === 'HEAD') continue;
      routes.push({
        method,
        url: opts.url,
        doc: (opts.schema as { 'x-doc'?: RouteDoc } | undefined)?.['x-doc'],
      });
    }
  });

  await app.register(healthRoutes, { ctx });
  await app.register(modelRoutes, { ctx, publisherKeys: deps.publisherKeys ?? [] });
  await app.register(clientRoutes, { ctx });
  await app.register(inferRoutes, { ctx });
  if (config.webDir !== null) await app.register(webRoutes, { ctx, webDir: config.webDir });
  await app.register(operationsRoutes, { ctx, routes });
  _routeTables.set(app, routes);
  return app;
}
