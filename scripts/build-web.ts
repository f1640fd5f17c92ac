// Builds the web app (src/apps/web) with Vite into dist/web, which `npm start` serves at `/`.
// Runs from `postinstall` and `prestart`; skips the build when dist/web was built from the same
// sources (a digest of every file the bundle can include, plus the lockfile). Downloads nothing:
// node-seal's and onnxruntime-web's .wasm files are copied from node_modules into the build.
//
//   node scripts/build-web.ts            build when stale
//   node scripts/build-web.ts --force    always build
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
export const WEB_SRC = join(root, 'src', 'apps', 'web');
export const WEB_DIST = join(root, 'dist', 'web');
const STAMP = join(WEB_DIST, '.build-stamp');

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) return files(p);
      return /\.test\.ts$/.test(n) ? [] : [p];
    });
}

/** A digest of everything the bundle is built from. */
export function sourceDigest(): string {
  const h = createHash('sha256');
  const inputs = [
    ...['he', 'nn', 'protocol', 'client', join('apps', 'web')].flatMap((d) => files(join(root, 'src', d))),
    join(root, 'package-lock.json'),
    join(root, 'scripts', 'build-web.ts'),
  ];
  for (const f of inputs) {
    h.update(relative(root, f));
    h.update('\0');
    h.update(readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex');
}

/** True when dist/web holds a build of the current sources. */
export function webBuildIsFresh(digest = sourceDigest()): boolean {
  return existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === digest;
}

/** Builds dist/web unless it is fresh (or `force`); returns whether it built. */
export async function buildWeb(opts: { force?: boolean; quiet?: boolean } = {}): Promise<boolean> {
  const digest = sourceDigest();
  if (!opts.force && webBuildIsFresh(digest)) return false;
  const { build, createLogger } = await import('vite');
  // node-seal's Emscripten glue imports "module" only under Node; Vite's notice about it is noise.
  const logger = createLogger(opts.quiet ? 'warn' : 'info');
  const warn = logger.warn;
  logger.warn = (msg, o) => {
    if (/"module" has been externalized for browser compatibility, imported by .*node-seal/.test(msg)) return;
    warn(msg, o);
  };
  await build({
    customLogger: logger,
    root: WEB_SRC,
    base: '/',
    configFile: false,
    logLevel: opts.quiet ? 'warn' : 'info',
    publicDir: false,
    resolve: {
      // node-seal does not export its .wasm; the worker imports it as `seal-wasm?url`.
      alias: [
        {
          find: /^seal-wasm/,
          replacement: join(root, 'node_modules', 'node-seal', 'dist', 'seal_throws.wasm'),
        },
      ],
    },
    worker: { format: 'es' },
    build: {
      outDir: WEB_DIST,
      emptyOutDir: true,
      // Lowers `using` and newer syntax for current Safari/Firefox/Chromium (polyfill.ts adds the symbols).
      target: ['es2022', 'chrome120', 'firefox121', 'safari17'],
      assetsInlineLimit: 0,
      chunkSizeWarningLimit: 2048,
      reportCompressedSize: false,
      sourcemap: false,
    },
  });
  writeFileSync(STAMP, `${digest}\n`);
  return true;
}

if (import.meta.main) {
  let vite = true;
  try {
    await import('vite');
  } catch {
    vite = false;
  }
  if (!vite) {
    // e.g. `npm install --omit=dev`: the service still starts; `/` explains how to build.
    console.error('build-web: vite is not installed; skipping the web app build');
  } else {
    const t = performance.now();
    const built = await buildWeb({ force: process.argv.includes('--force'), quiet: true });
    console.error(
      built
        ? `build-web: built ${relative(root, WEB_DIST)} in ${((performance.now() - t) / 1000).toFixed(1)} s`
        : `build-web: ${relative(root, WEB_DIST)} is up to date`,
    );
  }
}
