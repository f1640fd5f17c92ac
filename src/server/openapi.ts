/**
 * Builds the OpenAPI 3.0 document from the routes themselves: every route registers a
 * {@link RouteDoc} under `schema['x-doc']`, so the document cannot drift from what is served
 * (`app.test.ts` checks each route is documented).
 */
import { ERROR_STATUS, type ErrorCode } from '../protocol/errors.ts';
import { sharedSchemas } from '../protocol/schemas.ts';
import type { RouteDoc } from './route-doc.ts';
import { SERVICE_VERSION } from './routes/health.ts';

export interface RouteEntry {
  readonly method: string;
  readonly url: string;
  readonly doc: RouteDoc | undefined;
}

/** `/v1/models/:id` → `/v1/models/{id}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function _refs(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(_refs);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === '$id') continue;
    out[k] = k === '$ref' && typeof x === 'string' ? `#/components/schemas/${x.replace(/#$/, '')}` : _refs(x);
  }
  return out;
}

function _parameters(doc: RouteDoc): object[] {
  const ps: object[] = [];
  for (const [where, schema] of [
    ['path', doc.params],
    ['header', doc.headers],
  ] as const) {
    const s = schema as { properties?: Record<string, object>; required?: string[] } | undefined;
    for (const [name, sch] of Object.entries(s?.properties ?? {})) {
      ps.push({
        name,
        in: where,
        required: where === 'path' || (s?.required ?? []).includes(name),
        schema: sch,
      });
    }
  }
  if (doc.auth)
    ps.push({
      name: 'authorization',
      in: 'header',
      required: true,
      schema: { type: 'string' },
      description: 'Bearer <organisation API token>',
    });
  return ps;
}

/** The OpenAPI document for the given routes. */
export function buildOpenApi(routes: readonly RouteEntry[]): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const r of routes) {
    const d = r.doc;
    if (d === undefined) continue;
    const responses: Record<string, object> = {};
    const s = d.success;
    if (s.schema !== undefined) {
      responses[s.status] = {
        description: d.summary,
        content: { 'application/json': { schema: _refs(s.schema) } },
      };
    } else if (s.binary !== undefined) {
      responses[s.status] = {
        description: s.binary.description,
        headers: Object.fromEntries((s.binary.headers ?? []).map((h) => [h, { schema: { type: 'string' } }])),
        content: Object.fromEntries(
          s.binary.contentTypes.map((t) => [t, { schema: { type: 'string', format: 'binary' } }]),
        ),
      };
    } else {
      responses[s.status] = { description: s.text ?? d.summary };
    }
    const byStatus = new Map<number, ErrorCode[]>();
    for (const code of [...d.errors, 'INTERNAL' as const]) {
      const st = ERROR_STATUS[code];
      byStatus.set(st, [...(byStatus.get(st) ?? []), code]);
    }
    for (const [st, codes] of byStatus) {
      responses[st] = {
        description: `Error; error.code is one of ${codes.join(', ')}.${st === 429 || st === 503 ? ' Retry-After says when to retry.' : ''}`,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorBody' } } },
      };
    }
    const op: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${openApiPath(r.url).replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      summary: d.summary,
      tags: d.tags,
      parameters: _parameters(d),
      responses,
    };
    if (d.description !== undefined) op.description = d.description;
    if (d.auth) op.security = [{ bearer: [] }];
    if (d.body !== undefined)
      op.requestBody = { required: true, content: { 'application/json': { schema: _refs(d.body) } } };
    if (d.binaryBody !== undefined) {
      op.requestBody = {
        required: true,
        description: `${d.binaryBody.description} Limit: ${d.binaryBody.maxBytes} bytes (413 PAYLOAD_TOO_LARGE beyond). Compressed bodies (Content-Encoding) are refused.`,
        content: Object.fromEntries(
          d.binaryBody.contentTypes.map((t) => [t, { schema: { type: 'string', format: 'binary' } }]),
        ),
      };
    }
    paths[openApiPath(r.url)] ??= {};
    paths[openApiPath(r.url)][r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'BlindDx inference service',
      version: SERVICE_VERSION,
      description:
        'Encrypted medical inference: clients send CKKS ciphertexts under their own keys and receive encrypted results. Binary formats: raw SEAL serializations and the parts container (src/protocol/parts-container.ts).',
    },
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: Object.fromEntries(sharedSchemas.map((s) => [s.$id, _refs(s)])),
    },
  };
}
