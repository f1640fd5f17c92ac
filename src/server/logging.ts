/**
 * Logger options: JSON lines (pino) whose request/response serializers keep ids, method, route,
 * status and sizes only. Headers (Authorization!), bodies, keys and ciphertexts are never
 * serialized; `redact` is a second line of defence for fields someone might log by mistake.
 */
import type { FastifyRequest, FastifyServerOptions } from 'fastify';

export function loggerOptions(level: string): FastifyServerOptions['logger'] {
  return {
    level,
    redact: {
      paths: [
        'req.headers',
        'headers',
        'authorization',
        'token',
        'body',
        'payload',
        'material',
        'inputs',
        'results',
      ],
      censor: '[redacted]',
    },
    serializers: {
      req: (req: FastifyRequest) => ({
        id: req.id,
        method: req.method,
        route: req.routeOptions?.url ?? null,
        url: req.url.split('?')[0],
        contentLength: Number(req.headers?.['content-length'] ?? 0) || undefined,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  };
}
