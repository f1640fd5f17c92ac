// Liveness, readiness and the response-signing public key. No auth: nothing here is private.
import type { FastifyPluginAsync } from 'fastify';
import { publicPart } from '../../protocol/ed25519.ts';
import type { ReadyBody, ServerKeyBody } from '../../protocol/schemas.ts';
import type { RouteOptions } from '../context.ts';
import { routeSchema } from '../route-doc.ts';

export const SERVICE_VERSION = '0.1.0';

export const healthRoutes: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  app.get(
    '/v1/health',
    {
      schema: routeSchema({
        summary: 'Liveness: the process answers.',
        tags: ['operations'],
        auth: false,
        success: { status: 200, schema: { $ref: 'Health#' } },
        errors: [],
      }),
    },
    async () => ({ status: 'ok', version: SERVICE_VERSION }),
  );

  app.get(
    '/v1/ready',
    {
      schema: routeSchema({
        summary: 'Readiness: store reachable and not shutting down (503 otherwise, same body).',
        tags: ['operations'],
        auth: false,
        success: { status: 200, schema: { $ref: 'Ready#' } },
        errors: ['NOT_READY'],
      }),
    },
    async (_req, reply) => {
      let store: ReadyBody['store'] = 'ok';
      try {
        await ctx.store.ping();
      } catch {
        store = 'error';
      }
      const body: ReadyBody = {
        ready: store === 'ok' && !ctx.state.closing,
        models: ctx.models.list().length,
        store,
        queue: ctx.queue.snapshot(),
      };
      // Same body either way, so a load balancer and a human both see why.
      return reply.code(body.ready ? 200 : 503).send(body);
    },
  );

  app.get(
    '/v1/server-key',
    {
      schema: routeSchema({
        summary: 'The public key that signs inference responses (pin it out of band where possible).',
        tags: ['trust'],
        auth: false,
        success: { status: 200, schema: { $ref: 'ServerKey#' } },
        errors: [],
      }),
    },
    async (): Promise<ServerKeyBody> => ({ keys: [publicPart(ctx.responseKey)] }),
  );
};
