/**
 * The web app (a Vite build of `src/apps/web`: `index.html` + `assets/`) at `/`, when `webDir` is
 * set. Static files only, with a strict Content-Security-Policy (same-origin scripts, workers and
 * connections; WebAssembly compilation allowed, no eval), so the page cannot send anything anywhere
 * but this service. Hashed assets are cached for a year; `index.html` is revalidated.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { BlindDxError } from '../../protocol/errors.ts';
import type { RouteOptions } from '../context.ts';
import { routeSchema } from '../route-doc.ts';

/** The policy every web response carries (workers get theirs from their own script's response). */
export const WEB_CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "style-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const _types: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  wasm: 'application/wasm',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  json: 'application/json',
  webmanifest: 'application/manifest+json',
  txt: 'text/plain; charset=utf-8',
};

const assetParams = {
  type: 'object',
  required: ['file'],
  properties: { file: { type: 'string', pattern: '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}$' } },
} as const;

function _secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', WEB_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('permissions-policy', 'camera=(), microphone=(), geolocation=()');
}

export const webRoutes: FastifyPluginAsync<RouteOptions & { webDir: string }> = async (app, { webDir }) => {
  // Hashed assets never change under the same name: read each once.
  const cache = new Map<string, Buffer>();

  app.get(
    '/',
    {
      schema: routeSchema({
        summary: 'The BlindDx web app (single page): encrypted diagnosis in the browser.',
        tags: ['web'],
        auth: false,
        success: { status: 200, text: 'text/html' },
        errors: ['NOT_READY'],
      }),
    },
    async (_req, reply) => {
      const index = join(webDir, 'index.html');
      if (!existsSync(index)) {
        throw new BlindDxError(
          'NOT_READY',
          'the web app is not built: run `npm run build:web` (npm install and npm start build it)',
        );
      }
      return _secure(reply).type(_types.html).header('cache-control', 'no-cache').send(readFileSync(index));
    },
  );

  app.get<{ Params: { file: string } }>(
    '/assets/:file',
    {
      schema: routeSchema({
        summary:
          'A file of the web app build (scripts, styles, WebAssembly), immutable under its hashed name.',
        tags: ['web'],
        auth: false,
        params: assetParams,
        success: { status: 200, text: 'The file, with its content type.' },
        errors: ['BAD_REQUEST', 'NOT_FOUND'],
      }),
    },
    async (req, reply) => {
      const name = req.params.file;
      const ext = /\.([a-z0-9]+)$/.exec(name)?.[1];
      const type = ext === undefined ? undefined : _types[ext];
      let bytes = cache.get(name);
      if (bytes === undefined) {
        const path = join(webDir, 'assets', name);
        if (type === undefined || !existsSync(path) || !statSync(path).isFile()) {
          throw new BlindDxError('NOT_FOUND', `no web asset ${name}`);
        }
        bytes = readFileSync(path);
        cache.set(name, bytes);
      }
      return _secure(reply)
        .type(type!)
        .header('cache-control', 'public, max-age=31536000, immutable')
        .send(bytes);
    },
  );
};
