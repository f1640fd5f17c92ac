/**
 * Starting and stopping the service around `buildApp`: open the store, account for requests a
 * crash left open, verify and load model bundles, load the response key, create the dev
 * organisation on first start, listen, sweep expired data on schedule — and on shutdown stop
 * accepting, drain in-flight work, then close the engine and the store, in that order.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { type PublicKeyJwk, parsePublicKey } from '../protocol/ed25519.ts';
import { BlindDxError } from '../protocol/errors.ts';
import { buildApp } from './app.ts';
import type { ServerConfig } from './config.ts';
import type { InferenceEngine } from './engine.ts';
import { loadModelsDir } from './model-registry.ts';
import { loadResponseKey } from './response-key.ts';
import { openSqliteStore } from './store/sqlite-store.ts';
import type { Store } from './store/store.ts';

export interface RunningService {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly store: Store;
  /** Graceful shutdown; safe to call more than once. */
  close(): Promise<void>;
}

/** Reads the trusted publisher keys named in the config. */
export async function readTrustedKeys(files: readonly string[]): Promise<PublicKeyJwk[]> {
  const keys: PublicKeyJwk[] = [];
  for (const f of files) {
    try {
      keys.push(await parsePublicKey(JSON.parse(readFileSync(f, 'utf8')), f));
    } catch (e) {
      throw new BlindDxError('CONFIG_INVALID', `trusted key ${f}: ${(e as Error).message}`);
    }
  }
  return keys;
}

export async function startService(
  config: ServerConfig,
  options: {
    engine: InferenceEngine;
    /** Called once with the dev organisation's token when it is created (first start only). */
    onDevToken?: (token: string) => void;
    /** Fastify logger option (tests capture the log lines); default JSON lines at `config.logLevel`. */
    logger?: FastifyServerOptions['logger'];
  },
): Promise<RunningService> {
  const store = openSqliteStore({ dataDir: config.dataDir, synchronous: config.storeSynchronous });
  const engine = options.engine;
  let app: FastifyInstance | undefined;
  try {
    const now = Date.now();
    const recovered = await store.recoverInterrupted(now);
    const trusted = await readTrustedKeys(config.trustedKeyFiles);
    const models = await loadModelsDir(config.modelsDir, trusted, engine);
    const { key: responseKey } = await loadResponseKey(
      config.responseKeyFile ?? join(config.dataDir, 'response-signing-key.json'),
      config.responseKeyFile === null,
    );
    if (config.devOrg && (await store.countOrgs()) === 0) {
      const { token } = await store.createOrg('dev', now);
      options.onDevToken?.(token);
    }
    app = await buildApp(config, {
      store,
      engine,
      models,
      responseKey,
      publisherKeys: trusted,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    await store.audit({
      actor: 'system',
      action: 'service.started',
      subject: 'service',
      data: { models: models.list().length, recovered },
      now,
    });
    await app.listen({ host: config.host, port: config.port });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : config.port;
    const ids = models.list().map((m) => m.modelId);
    app.log.info(
      { port, models: ids, recoveredInterrupted: recovered, dataDir: config.dataDir },
      ids.length === 0
        ? 'BlindDx service listening with NO models loaded (no inference engine is wired in yet)'
        : `BlindDx service listening with ${ids.length} model(s)`,
    );

    const sweep = async () => {
      try {
        const { expired = [], ...r } = await store.sweep(
          Date.now(),
          config.retention.idempotencyTtlSeconds * 1000,
        );
        if (r.clientsExpired + r.idempotencyExpired + r.requestsPruned > 0)
          app?.log.info(r, 'retention sweep');
        for (const c of expired) {
          engine.forgetClient?.(c.modelId, c.materialDigest).catch((e: unknown) => {
            app?.log.warn({ err: e }, 'engine could not drop an expired client');
          });
        }
      } catch (e) {
        app?.log.error({ err: e }, 'retention sweep failed');
      }
    };
    await sweep();
    const timer = setInterval(sweep, config.retention.sweepIntervalSeconds * 1000);
    timer.unref();

    let closing: Promise<void> | undefined;
    const running = app;
    return {
      app: running,
      url: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`,
      store,
      close: () =>
        (closing ??= (async () => {
          clearInterval(timer);
          const deadline = new Promise<'timeout'>((r) =>
            setTimeout(r, config.shutdownTimeoutMs, 'timeout').unref(),
          );
          const done = await Promise.race([running.close().then(() => 'drained' as const), deadline]);
          if (done === 'timeout') running.log.warn('shutdown timeout: closing with work still in flight');
          await engine.close();
          await store.close();
        })()),
    };
  } catch (e) {
    await app?.close().catch(() => {});
    await engine.close().catch(() => {});
    await store.close();
    throw e;
  }
}

/** SIGINT / SIGTERM → graceful shutdown, then exit; a second signal exits at once. */
export function closeOnSignals(service: RunningService): void {
  let count = 0;
  const onSignal = (signal: string) => {
    if (++count > 1) process.exit(1);
    service.app.log.info({ signal }, 'shutting down: draining in-flight requests');
    service.close().then(
      () => process.exit(0),
      (e) => {
        service.app.log.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
