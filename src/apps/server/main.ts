// `npm start`: the inference service on BLINDDX_PORT (default 8080), SQLite store under .data/.
// Configuration: BLINDDX_CONFIG (JSON file) and BLINDDX_* variables; see src/server/config.ts.
import { BlindDxError } from '../../protocol/errors.ts';
import { loadConfig } from '../../server/config.ts';
import { closeOnSignals, startService } from '../../server/lifecycle.ts';
import { unavailableEngine } from '../../server/unavailable-engine.ts';

/** Starts the service; resolves once it listens. */
export async function runServer(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<void> {
  const config = loadConfig({ env });
  const service = await startService(config, {
    engine: unavailableEngine(),
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
