// Shared test fixtures: small CNN models with fixed, deterministic weights. Browser-safe (no Node
// built-ins), so tests in any layer can use them. Tests' tolerances depend on these numbers: do not
// change them.
import type { CnnModel, Preprocessing } from './ir.ts';

/** Deterministic pseudo-weights: n values of 0.5·sin(i·k). */
export const wave = (n: number, k: number): number[] =>
  Array.from({ length: n }, (_, i) => Math.sin(i * k) * 0.5);

/**
 * A tiny colour net on 2×5×5 input: conv 2→2 3×3/2 → degree-2 polynomial → flatten → dense 8→3.
 * Small enough for a protected encrypted plan in a unit test. Returns a fresh object each call.
 */
export function tinyColourCnn(name = 'tiny-cnn'): CnnModel {
  return {
    format: 'blinddx-cnn',
    version: 1,
    name,
    inputShape: [2, 5, 5],
    preprocessing: { scale: 1 / 255, mean: [0.5, 0.4], std: [0.25, 0.3] },
    layers: [
      {
        op: 'conv2d',
        inChannels: 2,
        outChannels: 2,
        kernel: [3, 3],
        stride: [2, 2],
        padding: [0, 0],
        weight: wave(36, 1.1),
        bias: [0.1, -0.2],
      },
      { op: 'poly', coeffs: [0.1, 0.3, 0.5] },
      { op: 'flatten' },
      { op: 'dense', inFeatures: 8, outFeatures: 3, weight: wave(24, 0.7), bias: [0, 0.5, -0.5] },
    ],
  };
}

/**
 * The smallest conv net: 1×6×6 input, conv 1→2 3×3/1 → x². One encrypted plan runs in well under a
 * second. Returns a fresh object each call.
 */
export function tinyConvSquare(name: string, preprocessing?: Preprocessing): CnnModel {
  return {
    format: 'blinddx-cnn',
    version: 1,
    name,
    inputShape: [1, 6, 6],
    ...(preprocessing === undefined ? {} : { preprocessing }),
    layers: [
      {
        op: 'conv2d',
        inChannels: 1,
        outChannels: 2,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [0, 0],
        weight: wave(18, 1.3),
        bias: [0.1, 0],
      },
      { op: 'poly', coeffs: [0, 0, 1] },
    ],
  };
}
