import { NnError } from '../errors.ts';
import type { LayerConfig } from './layer.ts';

/**
 * HE-friendly architectures for `blinddx train --kind cnn --arch <name>`. Every activation is x²
 * (one multiplicative level each) and the depth stays at two activations, so the encrypted plan
 * keeps the TenSEAL net's level budget; wider first convs only add rotations (see `planCnn` stats).
 */
export const CNN_PRESETS: Readonly<Record<string, (classes: number) => LayerConfig[]>> = Object.freeze({
  /** TenSEAL tutorial net: conv 1→4 7×7/3 → x² → dense 256→64 → x² → dense 64→K (28×28 input). */
  tenseal: (k: number) => head(4, 7, 3, 0, 64, k),
  /** First conv widened to 8 channels: dense 512→64. */
  wide8: (k: number) => head(8, 7, 3, 0, 64, k),
  /** First conv widened to 16 channels: dense 1024→64. */
  wide16: (k: number) => head(16, 7, 3, 0, 64, k),
  /** CryptoNets-like: conv 1→5 5×5/2 pad 1 → x² → dense 845→100 → x² → dense 100→K. */
  cryptonets: (k: number) => head(5, 5, 2, 1, 100, k),
  /** Small 8×8 inputs (HAM10000 hmnist): conv 1→16 3×3/1 → x² → dense 576→64 → x² → dense 64→K. */
  small8: (k: number) => head(16, 3, 1, 0, 64, k),
  /**
   * Two convolutions: conv 1→4 7×7/3 → x² → conv 4→8 3×3 pad 1 → x² → avgpool 2×2 → dense 128→K
   * (28×28 input; the `models/mnist-2conv` shape).
   */
  twoconv: (k: number): LayerConfig[] => [
    { type: 'conv2d', outChannels: 4, kernel: 7, stride: 3, padding: 0 },
    { type: 'square' },
    { type: 'conv2d', outChannels: 8, kernel: 3, stride: 1, padding: 1 },
    { type: 'square' },
    { type: 'avgpool', kernel: 2, stride: 2 },
    { type: 'flatten' },
    { type: 'dense', units: k },
  ],
  /** Tiny net for tests: conv 1→2 7×7/3 → x² → dense →8 → x² → dense →K. */
  tiny: (k: number) => head(2, 7, 3, 0, 8, k),
});

function head(
  ch: number,
  kernel: number,
  stride: number,
  padding: number,
  hidden: number,
  k: number,
): LayerConfig[] {
  return [
    { type: 'conv2d', outChannels: ch, kernel, stride, padding },
    { type: 'square' },
    { type: 'flatten' },
    { type: 'dense', units: hidden },
    { type: 'square' },
    { type: 'dense', units: k },
  ];
}

/**
 * Layers of preset `arch` for `classes` outputs; `poly` swaps every x² for a trainable a·x²+b·x+c;
 * `batchNorm` inserts a BatchNorm between every conv/dense and its activation (free under
 * encryption: the planner folds it into that conv/dense). Both default to off, so the presets stay
 * the nets they name.
 */
export function cnnPreset(arch: string, classes: number, poly = false, batchNorm = false): LayerConfig[] {
  const f = CNN_PRESETS[arch];
  if (f === undefined) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cnnPreset: unknown arch "${arch}" (one of ${Object.keys(CNN_PRESETS).join(', ')})`,
    );
  }
  const layers = f(classes).map((l): LayerConfig => (poly && l.type === 'square' ? { type: 'poly' } : l));
  return batchNorm ? withBatchNorm(layers) : layers;
}

/** `layers` with a BatchNorm after every conv2d/dense that feeds an activation (x², poly or ReLU). */
export function withBatchNorm(layers: readonly LayerConfig[]): LayerConfig[] {
  const act = new Set<LayerConfig['type']>(['square', 'poly', 'relu']);
  return layers.flatMap((l, i): LayerConfig[] =>
    (l.type === 'conv2d' || l.type === 'dense') && act.has(layers[i + 1]?.type)
      ? [l, { type: 'batchnorm' }]
      : [l],
  );
}
