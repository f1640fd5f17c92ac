import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { SealedSecret } from '../key-vault.ts';

/** Where the CLI keeps keys and scan history: `$BLINDDX_HOME` or `~/.blinddx`. */
export function blinddxHome(): string {
  return process.env.BLINDDX_HOME ?? join(homedir(), '.blinddx');
}

/** One stored key set: the sealed secret key plus the public material (safe to upload). */
export interface StoredKeys {
  readonly preset: string;
  readonly createdAt: string;
  readonly secret: SealedSecret;
  readonly galoisSteps: readonly number[];
  readonly relin: boolean;
}

function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Saves a key set under `<home>/keys/<preset>.json` (mode 0600, atomic rename). */
export function saveKeys(keys: StoredKeys, home = blinddxHome()): string {
  const dir = join(home, 'keys');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${keys.preset}.json`);
  writeAtomic(path, `${JSON.stringify(keys, null, 2)}\n`);
  return path;
}

/** Loads the key set for a preset, or undefined if none was made. */
export function loadKeys(preset: string, home = blinddxHome()): StoredKeys | undefined {
  try {
    return JSON.parse(readFileSync(join(home, 'keys', `${preset}.json`), 'utf8')) as StoredKeys;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** One scan as kept locally (decoded results stay on this machine). */
export interface ScanRecord {
  readonly id: string;
  readonly at: string;
  readonly model: string;
  readonly modelDigest: string;
  readonly source: string;
  readonly classes: readonly string[];
  readonly probabilities: readonly number[];
  readonly server?: string;
  readonly signatureVerified?: boolean;
  readonly timingsMs: Readonly<Record<string, number>>;
  readonly bytes: { readonly up: number; readonly down: number };
}

export function appendHistory(rec: ScanRecord, home = blinddxHome()): string {
  const dir = join(home, 'history');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${rec.at.replace(/[:.]/g, '-')}-${rec.id}.json`);
  writeAtomic(path, `${JSON.stringify(rec, null, 2)}\n`);
  return path;
}

export function readHistory(home = blinddxHome()): ScanRecord[] {
  const dir = join(home, 'history');
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as ScanRecord);
}
