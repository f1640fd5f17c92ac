/**
 * Maps every error to the wire catalog: `BlindDxError`s keep their code; Fastify's own errors
 * (body too large, bad media type, schema validation) get theirs; anything else is `INTERNAL`,
 * logged in full and answered without details.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  BlindDxError,
  ERROR_STATUS,
  type ErrorBody,
  type ErrorCode,
  isErrorCode,
} from '../protocol/errors.ts';

const _fastifyCodes: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_VALIDATION: 'BAD_REQUEST',
};

/** The catalog code and public message for any thrown value. */
export function toWireError(err: unknown): {
  code: ErrorCode;
  message: string;
  retryAfter?: number;
  internal: boolean;
} {
  const e = err as Partial<FastifyError & BlindDxError> | null;
  if (e instanceof BlindDxError || (e !== null && typeof e === 'object' && isErrorCode(e.code))) {
    const code = e.code as ErrorCode;
    const internal = ERROR_STATUS[code] === 500;
    return {
      code,
      message: internal ? 'internal error' : String(e.message),
      retryAfter: e.retryAfterSeconds,
      internal,
    };
  }
  if (e !== null && typeof e === 'object') {
    if (e.validation !== undefined)
      return { code: 'BAD_REQUEST', message: String(e.message), internal: false };
    const mapped = typeof e.code === 'string' ? _fastifyCodes[e.code] : undefined;
    if (mapped !== undefined) return { code: mapped, message: String(e.message), internal: false };
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return {
        code: e.statusCode === 404 ? 'NOT_FOUND' : 'BAD_REQUEST',
        message: String(e.message),
        internal: false,
      };
    }
  }
  return { code: 'INTERNAL', message: 'internal error', internal: true };
}

/** Fastify error handler: one JSON shape, stable codes, Retry-After where known, 5xx details hidden. */
export function errorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const w = toWireError(err);
  const status = ERROR_STATUS[w.code];
  if (w.internal) req.log.error({ err }, 'internal error');
  else req.log.info({ code: w.code, status }, 'request refused');
  if (w.retryAfter !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(w.retryAfter))));
  const body: ErrorBody = { error: { code: w.code, message: w.message, requestId: req.id } };
  return reply.code(status).type('application/json').send(body);
}

/** The raw body of a binary route; refuses other content types (e.g. JSON) with 415. */
export function binaryBody(req: FastifyRequest, types: readonly string[]): Buffer {
  const ct = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!types.includes(ct) || !Buffer.isBuffer(req.body)) {
    throw new BlindDxError(
      'UNSUPPORTED_MEDIA_TYPE',
      `expected a body of type ${types.join(' or ')}, got "${ct}"`,
    );
  }
  return req.body;
}
