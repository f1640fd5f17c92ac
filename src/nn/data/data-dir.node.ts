import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NnError } from '../errors.ts';

/** Repository root, three levels above this file (`src/nn/data`). */
const repoRoot = resolve(import.meta.dirname, '..', '..', '..');

/**
 * The shared data folder: `$BLINDDX_DATASETS_DIR`, else `../shared/data` relative to the repository root.
 * `parts` are joined onto it; a missing file is a `NN_DATA_NOT_FOUND` error naming the path.
 */
export function dataPath(...parts: string[]): string {
  const base = process.env.BLINDDX_DATASETS_DIR ?? resolve(repoRoot, '..', 'shared', 'data');
  const p = join(base, ...parts);
  if (!existsSync(p)) {
    throw new NnError('NN_DATA_NOT_FOUND', `dataPath: ${p} does not exist (set BLINDDX_DATASETS_DIR?)`);
  }
  return p;
}
