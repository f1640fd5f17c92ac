import { Rng } from '../train/rng.ts';
import { type ImageDataset, subsetDataset } from './dataset.ts';
import { loadKmnistTest } from './kmnist.node.ts';

/**
 * KMNIST has only its 10,000-image test split in `shared/data`. BlindDx divides it once, by a
 * seeded shuffle (`Rng(seed)` Fisher–Yates over 0…9999, seed 1): the first 8,000 indices train,
 * the last 2,000 are the held-out test set. Same seed, same split, in training and evaluation.
 */
export function loadKmnistSplit(split: 'train' | 'test', seed = 1): ImageDataset {
  const all = loadKmnistTest();
  const idx = Array.from({ length: all.n }, (_, i) => i);
  new Rng(seed).shuffle(idx);
  return subsetDataset(all, split === 'train' ? idx.slice(0, 8000) : idx.slice(8000));
}
