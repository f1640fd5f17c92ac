/**
 * What the CLI remembers about each server, under `$BLINDDX_HOME/servers.json` (mode 0600): the
 * response-signing keys seen on first use (pinned afterwards: a changed key is an error, not a
 * silent re-trust), and the client ids registered per model and key set, so public material is
 * uploaded once. Nothing here is secret; no results are stored here (see `appendHistory`).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PublicKeyJwk } from '../../protocol/ed25519.ts';
import type { ClientIdCache } from '../split-head-flow.ts';
import { blinddxHome } from './key-store.node.ts';

interface ServerEntry {
  serverKeys?: PublicKeyJwk[];
  /** `<modelId>|<keySetId>` → client id and its expiry. */
  clients: Record<string, { clientId: string; expiresAt: string }>;
}

type State = Record<string, ServerEntry>;

function _path(home: string): string {
  return join(home, 'servers.json');
}

function _read(home: string): State {
  try {
    return JSON.parse(readFileSync(_path(home), 'utf8')) as State;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
}

function _write(home: string, s: State): void {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const tmp = `${_path(home)}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, _path(home));
}

/** Normalized server key: origin plus path without a trailing slash. */
export function serverKeyOf(baseUrl: string): string {
  const u = new URL(baseUrl);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

function _update(home: string, server: string, f: (e: ServerEntry) => void): void {
  const s = _read(home);
  const e = (s[server] ??= { clients: {} });
  f(e);
  _write(home, s);
}

/** The pinned response-signing keys of a server, if any. */
export function pinnedServerKeys(baseUrl: string, home = blinddxHome()): PublicKeyJwk[] | undefined {
  return _read(home)[serverKeyOf(baseUrl)]?.serverKeys;
}

/** Pins a server's response-signing keys (trust on first use). */
export function pinServerKeys(baseUrl: string, keys: readonly PublicKeyJwk[], home = blinddxHome()): void {
  _update(home, serverKeyOf(baseUrl), (e) => {
    e.serverKeys = [...keys];
  });
}

/** A {@link ClientIdCache} for one server and key set, persisted in `servers.json`. */
export function fileClientIdCache(baseUrl: string, keySetId: string, home = blinddxHome()): ClientIdCache {
  const server = serverKeyOf(baseUrl);
  const k = (modelId: string) => `${modelId}|${keySetId}`;
  return {
    get(modelId) {
      const c = _read(home)[server]?.clients[k(modelId)];
      // A day of margin: an id about to expire is replaced rather than failing mid-scan.
      if (c === undefined || Date.parse(c.expiresAt) - Date.now() < 86_400_000) return undefined;
      return c.clientId;
    },
    set(modelId, clientId, expiresAt) {
      _update(home, server, (e) => {
        e.clients[k(modelId)] = { clientId, expiresAt };
      });
    },
    delete(modelId) {
      _update(home, server, (e) => {
        delete e.clients[k(modelId)];
      });
    },
  };
}
