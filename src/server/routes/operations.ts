// Prometheus metrics and the OpenAPI document. Neither needs auth; neither holds anything private.
import type { FastifyPluginAsync } from 'fastify';
import type { RouteOptions } from '../context.ts';
import { buildOpenApi, type RouteEntry } from '../openapi.ts';
import { routeSchema } from '../route-doc.ts';

export const operationsRoutes: FastifyPluginAsync<RouteOptions & { routes: readonly RouteEntry[] }> = async (
  app,
  { ctx, routes },
) => {
  app.get(
    '/v1/metrics',
    {
      schema: routeSchema({
        summary: 'Prometheus metrics (text format 0.0.4): requests, latencies, queue depth, worker restarts.',
        tags: ['operations'],
        auth: false,
        success: { status: 200, text: 'Prometheus text exposition.' },
        errors: [],
      }),
    },
    async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(ctx.metrics.render()),
  );

  let doc: object | undefined;
  app.get(
    '/v1/openapi.json',
    {
      schema: routeSchema({
        summary: 'This OpenAPI 3 document.',
        tags: ['operations'],
        auth: false,
        success: { status: 200, text: 'OpenAPI 3.0 JSON.' },
        errors: [],
      }),
    },
    async (_req, reply) => {
      doc ??= buildOpenApi(routes);
      return reply.type('application/json').send(JSON.stringify(doc));
    },
  );
};
