/**
 * Client registration: a client uploads its public evaluation material for one model and gets a
 * client id, usable only by its own organisation. Body: a parts container (`parts-container.ts`)
 * with `meta` (JSON `{"modelId": "…"}`), `publicKey`, and `relinKeys` / `galoisKeys` when the
 * model's manifest needs them. Key validation runs in the compute queue: parsing megabytes of
 * Galois keys is engine work like any other.
 */
import type { FastifyPluginAsync } from 'fastify';
import { jsonDigest, sha256Digest } from '../../protocol/digest.ts';
import { BlindDxError } from '../../protocol/errors.ts';
import { decodeParts } from '../../protocol/parts-container.ts';
import { type ClientRegisteredBody, REGISTER_PARTS } from '../../protocol/schemas.ts';
import { CONTENT_TYPE_PARTS } from '../../protocol/wire.ts';
import type { RouteOptions } from '../context.ts';
import type { KeyMaterial } from '../engine.ts';
import { binaryBody } from '../http-errors.ts';
import { routeSchema } from '../route-doc.ts';

const clientIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^cl_[0-9a-f]{32}$' } },
} as const;

/** Content address of a client's material: digest over the digests of its parts. */
export async function materialDigestOf(m: KeyMaterial) {
  return jsonDigest({
    publicKey: await sha256Digest(m.publicKey),
    relinKeys: m.relinKeys === undefined ? null : await sha256Digest(m.relinKeys),
    galoisKeys: m.galoisKeys === undefined ? null : await sha256Digest(m.galoisKeys),
  });
}

export const clientRoutes: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  const limit = ctx.config.limits.registerBodyBytes;

  app.post(
    '/v1/clients',
    {
      bodyLimit: limit,
      preHandler: ctx.authenticate,
      schema: routeSchema({
        summary: "Register a client's public evaluation material for one model; returns its client id.",
        description:
          'The secret key never comes here. Material is content-addressed (SHA-256) and bound to the caller organisation; it expires after the retention period.',
        tags: ['clients'],
        auth: true,
        binaryBody: {
          contentTypes: [CONTENT_TYPE_PARTS],
          description:
            'Parts container with parts `meta` (UTF-8 JSON {"modelId": string}), `publicKey`, and `relinKeys` / `galoisKeys` exactly when the model manifest needs them (needsRelinKeys, galoisSteps). Raw, uncompressed SEAL serializations under the manifest preset. An encrypted CNN takes Galois keys for exactly its plan\'s steps (a missing or an extra step is BAD_KEY_MATERIAL) and relinearization keys; its keys are large (mnist-tenseal: 89 MB).',
          maxBytes: limit,
        },
        success: { status: 201, schema: { $ref: 'ClientRegistered#' } },
        errors: [
          'BAD_REQUEST',
          'UNAUTHORIZED',
          'NOT_FOUND',
          'PAYLOAD_TOO_LARGE',
          'UNSUPPORTED_MEDIA_TYPE',
          'BAD_KEY_MATERIAL',
          'QUEUE_FULL',
          'TIMEOUT',
        ],
      }),
    },
    async (req, reply) => {
      const org = req.org!;
      const parts = decodeParts(binaryBody(req, [CONTENT_TYPE_PARTS]), { maxParts: REGISTER_PARTS.length });
      const byName = new Map(parts.map((p) => [p.name, p.bytes]));
      for (const p of parts) {
        if (!(REGISTER_PARTS as readonly string[]).includes(p.name)) {
          throw new BlindDxError(
            'BAD_REQUEST',
            `register: unknown part "${p.name}" (expected ${REGISTER_PARTS.join(', ')})`,
          );
        }
      }
      let meta: { modelId?: unknown };
      try {
        meta = JSON.parse(
          new TextDecoder('utf-8', { fatal: true }).decode(byName.get('meta') ?? new Uint8Array()),
        );
      } catch {
        throw new BlindDxError('BAD_REQUEST', 'register: part "meta" must be UTF-8 JSON {"modelId": string}');
      }
      if (typeof meta?.modelId !== 'string')
        throw new BlindDxError('BAD_REQUEST', 'register: "meta.modelId" is missing');
      const model = ctx.models.get(meta.modelId);
      if (model === undefined)
        throw new BlindDxError('NOT_FOUND', `register: model ${meta.modelId} is not loaded`);
      const publicKey = byName.get('publicKey');
      if (publicKey === undefined || publicKey.length === 0) {
        throw new BlindDxError('BAD_KEY_MATERIAL', 'register: part "publicKey" is missing or empty');
      }
      const need = model.manifest;
      const relinKeys = byName.get('relinKeys');
      const galoisKeys = byName.get('galoisKeys');
      if (need.needsRelinKeys !== (relinKeys !== undefined)) {
        throw new BlindDxError(
          'BAD_KEY_MATERIAL',
          `register: model ${model.modelId} ${need.needsRelinKeys ? 'needs' : 'does not take'} relinearization keys`,
        );
      }
      if (need.galoisSteps.length > 0 !== (galoisKeys !== undefined)) {
        throw new BlindDxError(
          'BAD_KEY_MATERIAL',
          `register: model ${model.modelId} ${need.galoisSteps.length > 0 ? 'needs' : 'does not take'} Galois keys`,
        );
      }
      // Copies: the parts are views into Fastify's request buffer.
      const material: KeyMaterial = {
        publicKey: new Uint8Array(publicKey),
        relinKeys: relinKeys && new Uint8Array(relinKeys),
        galoisKeys: galoisKeys && new Uint8Array(galoisKeys),
      };
      const slot = ctx.queue.tryReserve();
      if (slot === null) {
        throw new BlindDxError('QUEUE_FULL', 'register: the compute queue is full, retry later', {
          retryAfterSeconds: 1,
        });
      }
      await slot.run(
        () => ctx.engine.validateKeyMaterial(model.modelId, material),
        ctx.config.compute.timeoutMs,
      );
      const materialDigest = await materialDigestOf(material);
      const now = ctx.clock();
      const rec = await ctx.store.registerClient({
        orgId: org.id,
        modelId: model.modelId,
        material,
        materialDigest,
        now,
        expiresAt: now + ctx.config.retention.clientTtlSeconds * 1000,
      });
      req.log.info(
        { clientId: rec.id, orgId: org.id, modelId: rec.modelId, materialDigest, bytes: rec.bytes },
        'client registered',
      );
      const body: ClientRegisteredBody = {
        clientId: rec.id,
        modelId: rec.modelId,
        materialDigest,
        bytes: rec.bytes,
        expiresAt: new Date(rec.expiresAt).toISOString(),
      };
      return reply.code(201).send(body);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/clients/:id',
    {
      preHandler: ctx.authenticate,
      schema: routeSchema({
        summary: 'Delete a client and, when no other client of the organisation uses it, its key material.',
        tags: ['clients'],
        auth: true,
        params: clientIdParams,
        success: { status: 204, text: 'Deleted.' },
        errors: ['BAD_REQUEST', 'UNAUTHORIZED', 'FORBIDDEN_CLIENT', 'NOT_FOUND'],
      }),
    },
    async (req, reply) => {
      const org = req.org!;
      const now = ctx.clock();
      const c = await ctx.store.getClient(req.params.id, now);
      if (c === null)
        throw new BlindDxError('NOT_FOUND', `client ${req.params.id} does not exist or has expired`);
      if (c.orgId !== org.id) {
        throw new BlindDxError('FORBIDDEN_CLIENT', `client ${req.params.id} belongs to another organisation`);
      }
      await ctx.store.deleteClient(c.id, org.id, now);
      req.log.info({ clientId: c.id, orgId: org.id }, 'client deleted');
      // Free the engine's cached keys for it (hundreds of MB per CNN client per worker); not awaited:
      // it runs after the work already queued on each worker.
      ctx.engine.forgetClient?.(c.modelId, c.materialDigest).catch((e: unknown) => {
        req.log.warn({ err: e, clientId: c.id }, 'engine could not drop the deleted client');
      });
      return reply.code(204).send();
    },
  );
};
