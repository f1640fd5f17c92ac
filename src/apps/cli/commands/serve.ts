import { runServer } from '../../server/main.ts';
import type { CliCommand } from '../command.ts';

const usage = `usage: blinddx serve [--config <file.json>] [--port <n>] [--data-dir <dir>] [--models-dir <dir>]

Runs the inference service (same as npm start). Options override the config file, which
overrides defaults; every setting also has a BLINDDX_* variable (see src/server/config.ts), and
command-line options win over them. Stops gracefully on SIGINT/SIGTERM.`;

/** `blinddx serve`: run the inference service. */
export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'run the inference service',
  usage,
  options: {
    config: { type: 'string' },
    port: { type: 'string' },
    'data-dir': { type: 'string' },
    'models-dir': { type: 'string' },
  },
  async run({ values }) {
    const env: Record<string, string | undefined> = { ...process.env };
    if (values.config !== undefined) env.BLINDDX_CONFIG = values.config as string;
    if (values.port !== undefined) env.BLINDDX_PORT = values.port as string;
    if (values['data-dir'] !== undefined) env.BLINDDX_DATA_DIR = values['data-dir'] as string;
    if (values['models-dir'] !== undefined) env.BLINDDX_MODELS_DIR = values['models-dir'] as string;
    try {
      await runServer(env);
    } catch (e) {
      const err = e as { code?: string; message: string };
      console.error(`blinddx serve: ${err.code === undefined ? '' : `${err.code}: `}${err.message}`);
      return 1;
    }
    // Keep running: the server owns the process until a signal stops it.
    await new Promise(() => {});
    return 0;
  },
};
