import { readFileSync } from 'node:fs';
import { loadHam10000Hmnist8 } from './csv-digits.node.ts';
import { dataPath } from './data-dir.node.ts';
import type { ImageDataset } from './dataset.ts';
import { alignHmnistToMetadata, parseHam10000Metadata } from './ham10000.ts';

/**
 * HAM10000 8×8 grayscale (`hmnist_8_8_L.csv`) with the lesion id of every image, from
 * `HAM10000_metadata.csv` after {@link alignHmnistToMetadata} has checked the row alignment.
 *
 * @example
 * ```ts
 * const { data, lesionIds } = loadHam10000WithLesions(); // 10,015 images, 7,470 lesions
 * ```
 */
export function loadHam10000WithLesions(): { data: ImageDataset; lesionIds: string[] } {
  const data = loadHam10000Hmnist8();
  const meta = parseHam10000Metadata(readFileSync(dataPath('ham10000', 'HAM10000_metadata.csv'), 'utf8'));
  return { data, lesionIds: alignHmnistToMetadata(data.labels, meta) };
}
