import { readFileSync } from 'node:fs';
import { groupedSplit } from '../train/grouped-split.ts';
import { loadHam10000Hmnist8 } from './csv-digits.node.ts';
import { dataPath } from './data-dir.node.ts';
import { type ImageDataset, subsetDataset } from './dataset.ts';
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

/** The one HAM10000 split BlindDx uses: fractions of the lesions per dx class, and its seed. */
export const HAM_SPLIT = { test: 0.15, val: 0.15, seed: 1 } as const;

/**
 * One split of HAM10000 8×8: lesion-grouped (every lesion's images in one split), stratified by dx,
 * {@link HAM_SPLIT} fractions and seed — the split `blinddx train --kind cnn --dataset ham10000`
 * trains, selects and tests on (≈ 7,024 / 1,484 / 1,507 images).
 */
export function loadHam10000Split(split: 'train' | 'val' | 'test'): ImageDataset {
  const { data, lesionIds } = loadHam10000WithLesions();
  return subsetDataset(data, groupedSplit(lesionIds, data.labels, HAM_SPLIT)[split]);
}
