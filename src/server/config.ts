/**
 * Service configuration: defaults, then a JSON file, then `BLINDDX_*` environment variables.
 * `loadConfig` validates everything at once and reports every problem with where the bad value came
 * from; the result is a frozen {@link ServerConfig}. Unknown keys in the file are errors (typos
 * should not silently fall back to defaults).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { BlindDxError } from '../protocol/errors.ts';

export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  /** Directory for the SQLite store and the generated response-signing key. */
  readonly dataDir: string;
  /** Directory of model bundles (`<dir>/<model>/client.json`, `server.json`, files); null = none. */
  readonly modelsDir: string | null;
  /** Public JWK files of publishers whose model signatures are trusted. */
  readonly trustedKeyFiles: readonly string[];
  /** A built web app (index.html + assets/) served at `/`; null = no web app. */
  readonly webDir: string | null;
  /** Private JWK that signs responses; null = `<dataDir>/response-signing-key.json`, generated once. */
  readonly responseKeyFile: string | null;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly limits: {
    readonly registerBodyBytes: number;
    readonly inferBodyBytes: number;
    readonly maxBatch: number;
  };
  readonly compute: { readonly concurrency: number; readonly maxQueued: number; readonly timeoutMs: number };
  /** Queries (ciphertexts) per fixed window, per key material and per organisation. */
  readonly quotas: { readonly windowSeconds: number; readonly perKey: number; readonly perOrg: number };
  readonly retention: {
    readonly clientTtlSeconds: number;
    readonly idempotencyTtlSeconds: number;
    readonly sweepIntervalSeconds: number;
  };
  /** SQLite `synchronous`: FULL survives power loss, NORMAL survives process crashes only. */
  readonly storeSynchronous: 'FULL' | 'NORMAL';
  /** Create a `dev` organisation and print its token when the store has no organisation. */
  readonly devOrg: boolean;
  /** Longest wait for in-flight requests at shutdown. */
  readonly shutdownTimeoutMs: number;
}

type _Kind =
  | { t: 'int'; min: number; max: number }
  | { t: 'string' }
  | { t: 'nullable-string' }
  | { t: 'list' }
  | { t: 'bool' }
  | { t: 'enum'; values: readonly string[] };

interface _Field {
  readonly path: string;
  readonly env: string;
  readonly kind: _Kind;
  readonly def: unknown;
}

const MiB = 1024 * 1024;
const _int = (min: number, max: number): _Kind => ({ t: 'int', min, max });

/** Every setting: its path in the file, its environment variable, its type and default. */
export const CONFIG_FIELDS: readonly _Field[] = Object.freeze([
  { path: 'host', env: 'BLINDDX_HOST', kind: { t: 'string' }, def: '0.0.0.0' },
  { path: 'port', env: 'BLINDDX_PORT', kind: _int(0, 65535), def: 8080 },
  { path: 'dataDir', env: 'BLINDDX_DATA_DIR', kind: { t: 'string' }, def: '.data' },
  { path: 'modelsDir', env: 'BLINDDX_MODELS_DIR', kind: { t: 'nullable-string' }, def: null },
  { path: 'trustedKeyFiles', env: 'BLINDDX_TRUSTED_KEYS', kind: { t: 'list' }, def: [] },
  { path: 'responseKeyFile', env: 'BLINDDX_RESPONSE_KEY_FILE', kind: { t: 'nullable-string' }, def: null },
  { path: 'webDir', env: 'BLINDDX_WEB_DIR', kind: { t: 'nullable-string' }, def: null },
  {
    path: 'logLevel',
    env: 'BLINDDX_LOG_LEVEL',
    kind: { t: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    def: 'info',
  },
  {
    path: 'limits.registerBodyBytes',
    env: 'BLINDDX_REGISTER_BODY_BYTES',
    kind: _int(1024, 1024 * MiB),
    // An encrypted CNN's evaluation keys are large: mnist-tenseal's protected plan (N=16384,
    // 11 Galois keys + relin) uploads 89 MB.
    def: 128 * MiB,
  },
  {
    path: 'limits.inferBodyBytes',
    env: 'BLINDDX_INFER_BODY_BYTES',
    kind: _int(1024, 1024 * MiB),
    def: 16 * MiB,
  },
  { path: 'limits.maxBatch', env: 'BLINDDX_MAX_BATCH', kind: _int(1, 4096), def: 64 },
  { path: 'compute.concurrency', env: 'BLINDDX_COMPUTE_CONCURRENCY', kind: _int(1, 256), def: 2 },
  { path: 'compute.maxQueued', env: 'BLINDDX_QUEUE_MAX', kind: _int(0, 100_000), def: 32 },
  { path: 'compute.timeoutMs', env: 'BLINDDX_INFER_TIMEOUT_MS', kind: _int(1, 3_600_000), def: 30_000 },
  {
    path: 'quotas.windowSeconds',
    env: 'BLINDDX_QUOTA_WINDOW_SECONDS',
    kind: _int(1, 31 * 86400),
    def: 86400,
  },
  { path: 'quotas.perKey', env: 'BLINDDX_QUOTA_PER_KEY', kind: _int(1, 1e12), def: 10_000 },
  { path: 'quotas.perOrg', env: 'BLINDDX_QUOTA_PER_ORG', kind: _int(1, 1e12), def: 100_000 },
  {
    path: 'retention.clientTtlSeconds',
    env: 'BLINDDX_CLIENT_TTL_SECONDS',
    kind: _int(1, 3650 * 86400),
    def: 30 * 86400,
  },
  {
    path: 'retention.idempotencyTtlSeconds',
    env: 'BLINDDX_IDEMPOTENCY_TTL_SECONDS',
    kind: _int(1, 365 * 86400),
    def: 86400,
  },
  {
    path: 'retention.sweepIntervalSeconds',
    env: 'BLINDDX_SWEEP_INTERVAL_SECONDS',
    kind: _int(1, 86400),
    def: 300,
  },
  {
    path: 'storeSynchronous',
    env: 'BLINDDX_STORE_SYNCHRONOUS',
    kind: { t: 'enum', values: ['FULL', 'NORMAL'] },
    def: 'FULL',
  },
  { path: 'devOrg', env: 'BLINDDX_DEV_ORG', kind: { t: 'bool' }, def: true },
  { path: 'shutdownTimeoutMs', env: 'BLINDDX_SHUTDOWN_TIMEOUT_MS', kind: _int(0, 600_000), def: 30_000 },
] satisfies _Field[]);

/** Unchecked input: any subset of the config, as a file or a test provides it. */
export type ServerConfigLiteral = Record<string, unknown>;

function _get(obj: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

function _set(obj: Record<string, unknown>, path: string, v: unknown): void {
  const ks = path.split('.');
  let o = obj;
  for (const k of ks.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  o[ks.at(-1)!] = v;
}

function _coerce(
  kind: _Kind,
  raw: unknown,
  fromEnv: boolean,
): { ok: true; v: unknown } | { ok: false; want: string } {
  switch (kind.t) {
    case 'int': {
      const n = fromEnv && typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
      return typeof n === 'number' && Number.isSafeInteger(n) && n >= kind.min && n <= kind.max
        ? { ok: true, v: n }
        : { ok: false, want: `an integer in ${kind.min}..${kind.max}` };
    }
    case 'string':
      return typeof raw === 'string' && raw.length > 0
        ? { ok: true, v: raw }
        : { ok: false, want: 'a non-empty string' };
    case 'nullable-string':
      if (raw === null || (fromEnv && raw === '')) return { ok: true, v: null };
      return typeof raw === 'string' && raw.length > 0
        ? { ok: true, v: raw }
        : { ok: false, want: 'a non-empty string or null' };
    case 'list':
      if (fromEnv && typeof raw === 'string')
        return { ok: true, v: raw.split(',').filter((s) => s.length > 0) };
      return Array.isArray(raw) && raw.every((s) => typeof s === 'string' && s.length > 0)
        ? { ok: true, v: [...raw] }
        : { ok: false, want: 'a list of non-empty strings' };
    case 'bool':
      if (fromEnv && (raw === 'true' || raw === '1')) return { ok: true, v: true };
      if (fromEnv && (raw === 'false' || raw === '0')) return { ok: true, v: false };
      return typeof raw === 'boolean' ? { ok: true, v: raw } : { ok: false, want: 'true or false' };
    case 'enum':
      return typeof raw === 'string' && kind.values.includes(raw)
        ? { ok: true, v: raw }
        : { ok: false, want: `one of ${kind.values.join(', ')}` };
  }
}

function _leafPaths(obj: unknown, prefix = ''): string[] {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return [prefix];
  return Object.entries(obj).flatMap(([k, v]) => _leafPaths(v, prefix === '' ? k : `${prefix}.${k}`));
}

/**
 * Validates a literal (file contents) overlaid with environment variables into a frozen config.
 * Paths in the result (`dataDir`, …) are resolved against `cwd`.
 *
 * @example
 * const config = configFromLiteral({ port: 0, dataDir: tmp }, {});
 */
export function configFromLiteral(
  literal: ServerConfigLiteral,
  env: Readonly<Record<string, string | undefined>>,
  source = 'config',
  cwd = process.cwd(),
): ServerConfig {
  const problems: string[] = [];
  const known = new Set(CONFIG_FIELDS.map((f) => f.path));
  for (const p of _leafPaths(literal)) {
    if (p !== '' && !known.has(p) && !CONFIG_FIELDS.some((f) => f.path.startsWith(`${p}.`))) {
      problems.push(`${p}: unknown setting (in ${source})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const f of CONFIG_FIELDS) {
    const fromEnv = env[f.env] !== undefined;
    const raw = fromEnv ? env[f.env] : _get(literal, f.path);
    if (raw === undefined) {
      _set(out, f.path, f.def);
      continue;
    }
    const r = _coerce(f.kind, raw, fromEnv);
    if (r.ok) _set(out, f.path, r.v);
    else
      problems.push(
        `${f.path}: expected ${r.want}, got ${JSON.stringify(raw)} (from ${fromEnv ? f.env : source})`,
      );
  }
  if (problems.length > 0) {
    throw new BlindDxError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  out.dataDir = resolve(cwd, out.dataDir as string);
  if (out.modelsDir !== null) out.modelsDir = resolve(cwd, out.modelsDir as string);
  if (out.responseKeyFile !== null) out.responseKeyFile = resolve(cwd, out.responseKeyFile as string);
  if (out.webDir !== null) out.webDir = resolve(cwd, out.webDir as string);
  out.trustedKeyFiles = Object.freeze((out.trustedKeyFiles as string[]).map((p) => resolve(cwd, p)));
  for (const k of ['limits', 'compute', 'quotas', 'retention']) Object.freeze(out[k]);
  return Object.freeze(out) as unknown as ServerConfig;
}

/**
 * Loads the config: the JSON file named by `file` or `BLINDDX_CONFIG` (optional), then the
 * environment. Throws `CONFIG_INVALID` with every problem listed.
 */
export function loadConfig(
  options: { file?: string; env?: Readonly<Record<string, string | undefined>> } = {},
): ServerConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env.BLINDDX_CONFIG;
  let literal: ServerConfigLiteral = {};
  if (file !== undefined && file !== '') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new BlindDxError('CONFIG_INVALID', `cannot read config file ${file}: ${(e as Error).message}`);
    }
    try {
      literal = JSON.parse(text);
    } catch (e) {
      throw new BlindDxError('CONFIG_INVALID', `config file ${file} is not JSON: ${(e as Error).message}`);
    }
    if (literal === null || typeof literal !== 'object' || Array.isArray(literal)) {
      throw new BlindDxError('CONFIG_INVALID', `config file ${file} must hold a JSON object`);
    }
  }
  return configFromLiteral(literal, env, file ?? 'config');
}
