/**
 * Route schemas that also document the route. Fastify reads `params`, `headers`, `body` and
 * `response`; the OpenAPI builder (`openapi.ts`) also reads `summary`, `tags`, `auth`, the binary
 * request/response descriptions and the list of error codes the route can answer with.
 */
import type { FastifySchema } from 'fastify';
import type { ErrorCode } from '../protocol/errors.ts';

export interface RouteDoc {
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  /** Requires `Authorization: Bearer <org token>`. */
  readonly auth: boolean;
  readonly params?: object;
  readonly headers?: object;
  readonly body?: object;
  /** A non-JSON request body: its content types, what it holds and the route's size limit. */
  readonly binaryBody?: {
    readonly contentTypes: readonly string[];
    readonly description: string;
    readonly maxBytes: number;
  };
  /** Success status → JSON schema (`{ $ref: 'Name#' }`), or a binary description. */
  readonly success: {
    readonly status: number;
    readonly schema?: object;
    readonly binary?: {
      readonly contentTypes: readonly string[];
      readonly description: string;
      readonly headers?: readonly string[];
    };
    readonly text?: string;
  };
  /** Every error code the route can answer with (besides INTERNAL, which any route can). */
  readonly errors: readonly ErrorCode[];
}

/** The Fastify schema for a documented route; the doc rides along under `x-doc`. */
export function routeSchema(doc: RouteDoc): FastifySchema {
  const s: Record<string, unknown> = { summary: doc.summary, tags: doc.tags, 'x-doc': doc };
  if (doc.params !== undefined) s.params = doc.params;
  if (doc.headers !== undefined) s.headers = doc.headers;
  if (doc.body !== undefined) s.body = doc.body;
  if (doc.success.schema !== undefined) s.response = { [doc.success.status]: doc.success.schema };
  return s as FastifySchema;
}
