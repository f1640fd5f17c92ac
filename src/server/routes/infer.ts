/**
 * Encrypted inference. Body: one ciphertext (`application/octet-stream`) or a batch
 * (`application/vnd.blinddx.parts`, one part per ciphertext; the response uses the same names).
 *
 * Order of checks, each cheap before the next: model → client (exists, this organisation's, this
 * model's) → body shape → a place in the compute queue (503 QUEUE_FULL) → one store transaction
 * that replays / refuses a reused idempotency key, charges quotas (429) and records "accepted" →
 * compute with a deadline (504) → one store transaction that records the outcome and keeps the
 * signed response for replay → the response.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { MODEL_KIND_HEADER, MODEL_KINDS, modelKindOf } from '../../protocol/cnn-layout.ts';
import { jsonDigest, sha256Digest } from '../../protocol/digest.ts';
import { BlindDxError, ERROR_STATUS } from '../../protocol/errors.ts';
import { decodeParts, encodeParts } from '../../protocol/parts-container.ts';
import { signResponse } from '../../protocol/response-signature.ts';
import { CONTENT_TYPE_BINARY, CONTENT_TYPE_PARTS, HEADER, IDEMPOTENCY_KEY_RE } from '../../protocol/wire.ts';
import type { RouteOptions } from '../context.ts';
import { binaryBody, toWireError } from '../http-errors.ts';
import { routeSchema } from '../route-doc.ts';
import type { StoredResponse } from '../store/store.ts';
import { modelIdParams } from './models.ts';

const inferHeaders = {
  type: 'object',
  required: [HEADER.clientId],
  properties: {
    [HEADER.clientId]: { type: 'string', pattern: '^cl_[0-9a-f]{32}$' },
    [HEADER.idempotencyKey]: { type: 'string', pattern: IDEMPOTENCY_KEY_RE.source },
    [MODEL_KIND_HEADER]: { type: 'string', enum: [...MODEL_KINDS] },
  },
} as const;

function _send(reply: FastifyReply, r: StoredResponse): FastifyReply {
  return reply
    .code(r.status)
    .headers(r.headers)
    .send(Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength));
}

export const inferRoutes: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  const { limits, compute, quotas, retention } = ctx.config;

  app.post<{ Params: { modelId: string }; Headers: Record<string, string | undefined> }>(
    '/v1/infer/:modelId',
    {
      bodyLimit: limits.inferBodyBytes,
      preHandler: ctx.authenticate,
      schema: routeSchema({
        summary: 'Run a model on encrypted input; returns encrypted output signed by the server.',
        description: `Send the same Idempotency-Key to retry safely: the same body gets the same stored bytes back (never a fresh computation); a different body under the key is refused. Serves every model kind: split models take one encrypted embedding per input, encrypted CNNs one seeded image ciphertext per input (the client plan's parameters, top level, input scale) and answer one protected result ciphertext per image; window-packed CNNs (the tiled flow's packed mode) take exactly the layout's input ciphertexts as one parts container (many patches) and answer the layout's output ciphertexts as parts "0", "1", …. Send ${MODEL_KIND_HEADER}: cnn | cnn-packed | split-head to have a request for a model of another kind refused (WRONG_MODEL_KIND) before it is queued or charged.`,
        tags: ['inference'],
        auth: true,
        params: {
          type: 'object',
          required: ['modelId'],
          properties: { modelId: modelIdParams.properties.id },
        },
        headers: inferHeaders,
        binaryBody: {
          contentTypes: [CONTENT_TYPE_BINARY, CONTENT_TYPE_PARTS],
          description: `One raw SEAL ciphertext, or a parts container of up to ${limits.maxBatch} ciphertexts.`,
          maxBytes: limits.inferBodyBytes,
        },
        success: {
          status: 200,
          binary: {
            contentTypes: [CONTENT_TYPE_BINARY, CONTENT_TYPE_PARTS],
            description:
              'Result ciphertext(s), in the request content type and part names. The headers carry the model digest and the Ed25519 signature over {v:1, modelId, clientId, requestDigest, modelDigest, resultDigest, signedAt} (see src/protocol/response-signature.ts); x-idempotent-replay: true on a replay.',
            headers: [
              HEADER.modelId,
              HEADER.modelDigest,
              HEADER.requestDigest,
              HEADER.resultDigest,
              HEADER.signedAt,
              HEADER.signature,
              HEADER.idempotentReplay,
            ],
          },
        },
        errors: [
          'BAD_REQUEST',
          'UNAUTHORIZED',
          'FORBIDDEN_CLIENT',
          'NOT_FOUND',
          'IDEMPOTENCY_CONFLICT',
          'IDEMPOTENCY_IN_PROGRESS',
          'PAYLOAD_TOO_LARGE',
          'UNSUPPORTED_MEDIA_TYPE',
          'BAD_CIPHERTEXT',
          'WRONG_MODEL_KIND',
          'QUOTA_EXCEEDED',
          'QUEUE_FULL',
          'TIMEOUT',
        ],
      }),
    },
    async (req, reply) => {
      const org = req.org!;
      const modelId = req.params.modelId;
      const clientId = req.headers[HEADER.clientId]!;
      const idemKey = req.headers[HEADER.idempotencyKey];
      const outcome = (code: string) => ctx.metrics.inferOutcomes.inc({ model: modelId, outcome: code });

      const model = ctx.models.get(modelId);
      if (model === undefined) throw new BlindDxError('NOT_FOUND', `infer: model ${modelId} is not loaded`);
      const wantKind = req.headers[MODEL_KIND_HEADER];
      const kind = modelKindOf(model.manifest);
      if (wantKind !== undefined && wantKind !== kind) {
        outcome('WRONG_MODEL_KIND');
        throw new BlindDxError(
          'WRONG_MODEL_KIND',
          `infer: model ${modelId} is a ${kind ?? 'unknown'} model; this request was encrypted for a ${wantKind} model`,
        );
      }
      const now = ctx.clock();
      const client = await ctx.store.getClient(clientId, now);
      if (client === null)
        throw new BlindDxError('NOT_FOUND', `infer: client ${clientId} does not exist or has expired`);
      if (client.orgId !== org.id) {
        await ctx.store.recordRejection({ orgId: org.id, clientId, modelId, code: 'FORBIDDEN_CLIENT', now });
        outcome('FORBIDDEN_CLIENT');
        throw new BlindDxError(
          'FORBIDDEN_CLIENT',
          `infer: client ${clientId} belongs to another organisation`,
        );
      }
      if (client.modelId !== modelId) {
        throw new BlindDxError(
          'BAD_REQUEST',
          `infer: client ${clientId} is registered for model ${client.modelId}`,
        );
      }

      const body = binaryBody(req, [CONTENT_TYPE_BINARY, CONTENT_TYPE_PARTS]);
      const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      const batch = contentType === CONTENT_TYPE_PARTS;
      // A window-packed request is one unit: the layout's input ciphertexts in, its outputs back.
      const packed = kind === 'cnn-packed';
      if (packed && !batch) {
        throw new BlindDxError(
          'BAD_REQUEST',
          `infer: model ${modelId} is window-packed; send its input ciphertexts as one ${CONTENT_TYPE_PARTS} container`,
        );
      }
      // Copies with their own ArrayBuffers: a view into Fastify's request buffer, posted to a worker,
      // would copy its whole backing buffer — for a batch once per input, and that buffer can be a
      // pooled slab holding other requests' bytes.
      const inputs = (
        batch ? decodeParts(body, { maxParts: limits.maxBatch }) : [{ name: '0', bytes: body as Uint8Array }]
      ).map((p) => ({ name: p.name, bytes: new Uint8Array(p.bytes) }));
      for (const p of inputs) {
        if (p.bytes.length === 0)
          throw new BlindDxError('BAD_CIPHERTEXT', `infer: input "${p.name}" is empty`);
      }
      const requestDigest = await sha256Digest(body);

      const slot = ctx.queue.tryReserve();
      if (slot === null) {
        outcome('QUEUE_FULL');
        throw new BlindDxError('QUEUE_FULL', 'infer: the compute queue is full, retry later', {
          retryAfterSeconds: 1,
        });
      }
      let admission: Awaited<ReturnType<typeof ctx.store.admitInference>>;
      try {
        admission = await ctx.store.admitInference({
          requestId: req.id,
          orgId: org.id,
          clientId,
          modelId,
          materialDigest: client.materialDigest,
          idempotency:
            idemKey === undefined
              ? null
              : {
                  key: idemKey,
                  requestHash: await jsonDigest({ modelId, clientId, contentType, requestDigest }),
                  expiresAt: now + retention.idempotencyTtlSeconds * 1000,
                },
          units: inputs.length,
          bytesIn: body.length,
          now,
          quota: quotas,
        });
      } catch (e) {
        slot.cancel();
        throw e;
      }
      if (admission.kind !== 'accepted') {
        slot.cancel();
        switch (admission.kind) {
          case 'replay':
            outcome('replay');
            return _send(reply.header(HEADER.idempotentReplay, 'true'), admission.response);
          case 'conflict':
            outcome('IDEMPOTENCY_CONFLICT');
            throw new BlindDxError(
              'IDEMPOTENCY_CONFLICT',
              'infer: this idempotency key was used with a different request',
            );
          case 'in-progress':
            outcome('IDEMPOTENCY_IN_PROGRESS');
            throw new BlindDxError(
              'IDEMPOTENCY_IN_PROGRESS',
              'infer: a request with this idempotency key is still running',
              {
                retryAfterSeconds: 1,
              },
            );
          case 'quota':
            await ctx.store.recordRejection({
              orgId: org.id,
              clientId,
              modelId,
              code: 'QUOTA_EXCEEDED',
              now,
            });
            outcome('QUOTA_EXCEEDED');
            throw new BlindDxError(
              'QUOTA_EXCEEDED',
              `infer: ${admission.scope === 'key' ? 'key' : 'organisation'} quota exhausted`,
              {
                retryAfterSeconds: admission.retryAfterSeconds,
              },
            );
        }
      }

      // Accepted: from here on, exactly one of completed / failed is recorded (or, after a crash, interrupted).
      let results: Uint8Array[];
      let queueMs = 0;
      let computeMs = 0;
      try {
        const material = await ctx.keyMaterial(org.id, client.materialDigest);
        if (material === null)
          throw new BlindDxError('NOT_FOUND', `infer: key material of client ${clientId} is gone`);
        const r = await slot.run(
          (signal) =>
            ctx.engine.infer({
              modelId,
              clientId,
              material,
              materialDigest: client.materialDigest,
              inputs: inputs.map((p) => p.bytes),
              signal,
            }),
          compute.timeoutMs,
        );
        queueMs = r.queueMs;
        computeMs = r.runMs;
        results = r.value;
        if (!Array.isArray(results) || (packed ? results.length === 0 : results.length !== inputs.length)) {
          throw new Error(`engine returned ${results?.length} results for ${inputs.length} inputs`);
        }
      } catch (e) {
        const w = toWireError(e);
        const code = w.code;
        await ctx.store.finishInference({
          requestId: req.id,
          outcome: 'failed',
          code,
          now: ctx.clock(),
          bytesOut: 0,
          queueMs: Math.round(queueMs),
          computeMs: Math.round(computeMs),
          response: null,
        });
        outcome(code);
        req.log.info(
          { requestId: req.id, modelId, clientId, units: inputs.length, code, status: ERROR_STATUS[code] },
          'inference failed',
        );
        throw e;
      }

      const out = packed
        ? encodeParts(results.map((bytes, i) => ({ name: String(i), bytes })))
        : batch
          ? encodeParts(inputs.map((p, i) => ({ name: p.name, bytes: results[i] })))
          : results[0];
      const signedAt = ctx.clock();
      const headers = await signResponse(
        {
          v: 1,
          modelId,
          clientId,
          requestDigest,
          modelDigest: model.modelDigest,
          resultDigest: await sha256Digest(out),
          signedAt,
        },
        ctx.responseKey,
      );
      const response: StoredResponse = {
        status: 200,
        headers: { ...headers, 'content-type': batch ? CONTENT_TYPE_PARTS : CONTENT_TYPE_BINARY },
        body: out,
      };
      await ctx.store.finishInference({
        requestId: req.id,
        outcome: 'completed',
        code: null,
        now: signedAt,
        bytesOut: out.length,
        queueMs: Math.round(queueMs),
        computeMs: Math.round(computeMs),
        response: idemKey === undefined ? null : response,
      });
      outcome('completed');
      ctx.metrics.inferCompute.observe({ model: modelId }, computeMs / 1000);
      ctx.metrics.inferQueueWait.observe({ model: modelId }, queueMs / 1000);
      ctx.metrics.inferCiphertexts.inc({ model: modelId }, inputs.length);
      req.log.info(
        {
          requestId: req.id,
          orgId: org.id,
          modelId,
          clientId,
          units: inputs.length,
          bytesIn: body.length,
          bytesOut: out.length,
          queueMs: Math.round(queueMs),
          computeMs: Math.round(computeMs),
        },
        'inference completed',
      );
      return _send(reply, response);
    },
  );
};
