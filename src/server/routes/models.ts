// Model manifests: the list, each model's signed client part exactly as the publisher signed it, the
// public client files that part pins (the backbone), and the publisher keys the service trusts.
import type { FastifyPluginAsync } from 'fastify';
import { modelKindOf } from '../../protocol/cnn-layout.ts';
import { type PublicKeyJwk, publicPart } from '../../protocol/ed25519.ts';
import { BlindDxError } from '../../protocol/errors.ts';
import { FILE_DIGEST_HEADER, type ModelListBody, type PublisherKeysBody } from '../../protocol/schemas.ts';
import type { RouteOptions } from '../context.ts';
import { routeSchema } from '../route-doc.ts';

export const modelIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' } },
} as const;

const fileParams = {
  type: 'object',
  required: ['id', 'name'],
  properties: {
    id: modelIdParams.properties.id,
    name: { type: 'string', pattern: '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$' },
  },
} as const;

export const modelRoutes: FastifyPluginAsync<
  RouteOptions & { publisherKeys?: readonly PublicKeyJwk[] }
> = async (app, { ctx, publisherKeys = [] }) => {
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
        kind: modelKindOf(m.manifest) ?? 'unknown',
      })),
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/models/:id',
    {
      schema: routeSchema({
        summary: 'The signed client bundle of a model; verify it against the publisher key before use.',
        description:
          'For an encrypted CNN, `inputLayout` is `{kind: "blinddx.cnn/1", plan}` with the client half of the compiled plan only (parameters, preprocessing, input packing, output slots, Galois steps, relin need, response protection), or `{kind: "blinddx.cnn-window-packed/1", layout}` for the tiled flow\'s packed mode; stages and weights never leave the server.',
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

  app.get<{ Params: { id: string; name: string } }>(
    '/v1/models/:id/files/:name',
    {
      schema: routeSchema({
        summary:
          "A public client file of a model (the backbone ONNX), as pinned by the signed client bundle's `files`.",
        description: `Only files the signed client manifest names are served, and only when their bytes matched the signed digest when the bundle was loaded. The ${FILE_DIGEST_HEADER} header repeats the digest; clients must check the bytes against the digest in the bundle they verified, not against this header.`,
        tags: ['models'],
        auth: false,
        params: fileParams,
        success: {
          status: 200,
          binary: {
            contentTypes: ['application/octet-stream'],
            description: 'The file bytes.',
            headers: [FILE_DIGEST_HEADER],
          },
        },
        errors: ['BAD_REQUEST', 'NOT_FOUND'],
      }),
    },
    async (req, reply) => {
      const { id, name } = req.params;
      const m = ctx.models.get(id);
      if (m === undefined) throw new BlindDxError('NOT_FOUND', `model ${id} is not loaded`);
      const bytes = m.clientFiles.get(name);
      if (bytes === undefined) {
        throw new BlindDxError(
          'NOT_FOUND',
          Object.hasOwn(m.manifest.files, name)
            ? `model ${id}: file ${name} is not published by this service`
            : `model ${id} has no client file ${name}`,
        );
      }
      // The header is the signed digest: the registry kept these bytes only after checking them against it.
      return reply
        .type('application/octet-stream')
        .header(FILE_DIGEST_HEADER, m.manifest.files[name])
        .header('cache-control', 'public, max-age=300')
        .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    },
  );

  const publishers: PublisherKeysBody = { keys: publisherKeys.map((k) => publicPart(k)) };
  app.get(
    '/v1/publisher-keys',
    {
      schema: routeSchema({
        summary:
          'The publisher keys whose model bundles this service trusts (pin them, or get them out of band).',
        tags: ['trust'],
        auth: false,
        success: { status: 200, schema: { $ref: 'PublisherKeys#' } },
        errors: [],
      }),
    },
    async () => publishers,
  );
};
