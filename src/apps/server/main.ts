// `npm start`: the inference service on BLINDDX_PORT (default 8080), SQLite store under .data/.
// Configuration: BLINDDX_CONFIG (JSON file) and BLINDDX_* variables; see src/server/config.ts.
// With no modelsDir configured, the committed split models under models/ are signed at start with
// a demo publisher key kept in the data dir (src/server/engines/demo-models.ts); set
// BLINDDX_DEMO_MODELS=off to start without them, or to another folder of split models. The encrypted
// CNN mnist-cnn is served too (BLINDDX_DEMO_CNN=name,name… or off; e.g. mnist-tenseal).
// The web app built into dist/web (`npm run build:web`; postinstall and prestart build it) is
// served at `/` unless webDir is configured; BLINDDX_WEB=off serves none.
import { resolve } from 'node:path';
import { BlindDxError } from '../../protocol/errors.ts';
import { loadConfig, type ServerConfig } from '../../server/config.ts';
import { CnnEngine } from '../../server/engines/cnn-engine.ts';
import { prepareDemoModels } from '../../server/engines/demo-models.ts';
import { ModelKindRouter } from '../../server/engines/model-kind-router.ts';
import { SealHeadEngine } from '../../server/engines/seal-head-engine.ts';
import { closeOnSignals, startService } from '../../server/lifecycle.ts';
import { unavailableEngine } from '../../server/unavailable-engine.ts';

const _repoRoot = resolve(import.meta.dirname, '..', '..', '..');
const _repoModels = resolve(_repoRoot, 'models');
/** CNN models (folders under models/) `npm start` serves by default; BLINDDX_DEMO_CNN overrides (a comma list, or off). */
export const DEFAULT_DEMO_CNN = 'mnist-cnn';
/** Where `scripts/build-web.ts` writes the web app. */
export const WEB_BUILD_DIR = resolve(_repoRoot, 'dist', 'web');

/** Starts the service; resolves once it listens. */
export async function runServer(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<void> {
  let config: ServerConfig = loadConfig({ env });
  if (config.webDir === null && env.BLINDDX_WEB !== 'off') {
    config = Object.freeze({ ...config, webDir: WEB_BUILD_DIR });
  }
  if (config.modelsDir === null && env.BLINDDX_DEMO_MODELS !== 'off') {
    const cnnList = env.BLINDDX_DEMO_CNN ?? DEFAULT_DEMO_CNN;
    const demo = await prepareDemoModels({
      sourceDir: env.BLINDDX_DEMO_MODELS ?? _repoModels,
      dataDir: config.dataDir,
      cnnModels: cnnList === 'off' ? [] : cnnList.split(',').map((s) => s.trim()),
      log: (m) => process.stdout.write(`BlindDx: ${m}\n`),
    });
    if (demo.models.length > 0) {
      config = Object.freeze({
        ...config,
        modelsDir: demo.modelsDir,
        trustedKeyFiles: Object.freeze([...config.trustedKeyFiles, demo.trustedKeyFile]),
      });
      process.stdout.write(
        `BlindDx: demo models ${demo.models.join(', ')} signed by the demo publisher key ${demo.trustedKeyFile} (clients trust this file)\n`,
      );
    }
  }
  const service = await startService(config, {
    engine:
      config.modelsDir === null
        ? unavailableEngine()
        : new ModelKindRouter({
            'split-head': () =>
              new SealHeadEngine({
                workers: config.compute.concurrency,
                taskTimeoutMs: config.compute.timeoutMs,
              }),
            cnn: () =>
              new CnnEngine({ workers: config.compute.concurrency, taskTimeoutMs: config.compute.timeoutMs }),
          }),
    onDevToken: (token) =>
      // Printed once, on the start that creates it; only its hash is stored.
      process.stdout.write(
        `\nBlindDx: created organisation "dev". Its API token (shown only now; keep it):\n  ${token}\n` +
          `Use it as: Authorization: Bearer ${token}\n\n`,
      ),
  });
  closeOnSignals(service);
}

if (import.meta.main) {
  try {
    await runServer();
  } catch (e) {
    const msg = e instanceof BlindDxError ? `${e.code}: ${e.message}` : String((e as Error)?.stack ?? e);
    process.stderr.write(`BlindDx service failed to start: ${msg}\n`);
    process.exit(1);
  }
}
