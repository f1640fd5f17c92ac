import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { NnError } from '../errors.ts';
import { dataPath } from './data-dir.node.ts';
import type { ImageDataset } from './dataset.ts';

/** Parses rows of `size*size` integer pixels followed by one label, scaling pixels by `scale`. */
export function parsePixelCsv(
  text: string,
  size: number,
  scale: number,
  header: boolean,
  what: string,
): ImageDataset {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const rows = header ? lines.slice(1) : lines;
  const px = size * size;
  const n = rows.length;
  const images = new Uint8Array(n * px);
  const labels = new Uint8Array(n);
  for (let r = 0; r < n; r++) {
    const cells = rows[r].split(',');
    if (cells.length !== px + 1) {
      throw new NnError(
        'NN_DATA_FORMAT',
        `parsePixelCsv(${what}): row ${r} has ${cells.length} cells, want ${px + 1}`,
      );
    }
    for (let i = 0; i < px; i++) images[r * px + i] = Math.min(255, Math.round(Number(cells[i]) * scale));
    labels[r] = Number(cells[px]);
  }
  return { images, labels, n, height: size, width: size, channels: 1 };
}

/**
 * Loads HAM10000 `hmnist_8_8_L.csv` (10,015 8×8 grayscale images; hmnist label order, see the data README).
 *
 * @example
 * ```ts
 * const ham = loadHam10000Hmnist8(); // n 10015, 8×8, label 4 = nv (6705)
 * ```
 */
export function loadHam10000Hmnist8(): ImageDataset {
  return parsePixelCsv(
    readFileSync(dataPath('ham10000', 'hmnist_8_8_L.csv'), 'utf8'),
    8,
    1,
    true,
    'hmnist_8_8_L',
  );
}

/** hmnist label order of {@link loadHam10000Hmnist8} (differs from DermaMNIST). */
export const HMNIST_CLASSES = ['akiec', 'bcc', 'bkl', 'df', 'nv', 'vasc', 'mel'] as const;

/**
 * Loads sklearn's 8×8 digits (1,797 images). Pixels 0..16 are rescaled to 0..255 (×255/16, rounded)
 * so every loader returns the same uint8 range.
 */
export function loadSklearnDigits(): ImageDataset {
  const text = new TextDecoder().decode(
    gunzipSync(readFileSync(dataPath('sklearn-digits', 'digits.csv.gz'))),
  );
  return parsePixelCsv(text, 8, 255 / 16, false, 'digits.csv.gz');
}
