// Model manifests: the list, and each model's signed client part exactly as the publisher signed it.
import type { FastifyPluginAsync } from 'fastify';
import { BlindDxError } from '../../protocol/errors.ts';
import type { ModelListBody } from '../../protocol/schemas.ts';
import type { RouteOptions } from '../context.ts';
import { routeSchema } from '../route-doc.ts';

export const modelIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' } },
} as const;

export const modelRoutes: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  app.get(
    '/v1/models',
    {
      schema: routeSchema({
        summary: 'Models this service runs, with their model digests.',
        tags: ['models'],
        auth: false,
        success: { status: 200, schema: { $ref: 'ModelList#' } },
        errors: [],
      }),
    },
    async (): Promise<ModelListBody> => ({
      models: ctx.models.list().map((m) => ({
        modelId: m.modelId,
        version: m.version,
        preset: m.manifest.preset,
        modelDigest: m.modelDigest,
        classes: m.manifest.classes,
      })),
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/models/:id',
    {
      schema: routeSchema({
        summary: 'The signed client bundle of a model; verify it against the publisher key before use.',
        tags: ['models'],
        auth: false,
        params: modelIdParams,
        success: { status: 200, schema: { $ref: 'ClientBundle#' } },
        errors: ['BAD_REQUEST', 'NOT_FOUND'],
      }),
    },
    async (req, reply) => {
      const m = ctx.models.get(req.params.id);
      if (m === undefined) throw new BlindDxError('NOT_FOUND', `model ${req.params.id} is not loaded`);
      // Sent as stored text-equivalent JSON, bypassing the response serializer so no field is dropped.
      return reply
        .type('application/json')
        .serializer((x: unknown) => JSON.stringify(x))
        .send(m.clientBundle);
    },
  );
};
