/** A trainable tensor with its gradient (same length), named for export and checkpoints. */
export interface Param {
  readonly name: string;
  readonly value: Float32Array;
  readonly grad: Float32Array;
  /**
   * `false`: AdamW's decoupled weight decay never shrinks this tensor (biases, poly coefficients,
   * BatchNorm γ/β). Unset means decayed.
   */
  readonly decay?: boolean;
}

/**
 * Non-trainable layer state that is part of the model (BatchNorm running mean/variance): not touched
 * by the optimizer, but saved, exported and restored with the parameters.
 */
export interface StateBuffer {
  readonly name: string;
  readonly value: Float32Array | Float64Array;
}

/** Serializable description of a layer; the ONNX exporter and checkpoints work from these. */
export type LayerConfig =
  | { type: 'conv2d'; outChannels: number; kernel: number; stride: number; padding: number }
  | { type: 'relu' }
  | { type: 'square' }
  /** Trainable a·x² + b·x + c (three scalars per layer); `init` is `[c, b, a]`, default x². */
  | { type: 'poly'; init?: [number, number, number] }
  | { type: 'maxpool'; kernel: number; stride: number }
  | { type: 'avgpool'; kernel: number; stride: number }
  | { type: 'gap' }
  | { type: 'flatten' }
  | { type: 'dense'; units: number }
  /**
   * Per-channel (of `[C, H, W]`) or per-feature (of `[C]`) batch normalization with trainable γ/β
   * and running statistics; `momentum` [0.1] weights the newest batch, `epsilon` [1e-5].
   */
  | { type: 'batchnorm'; momentum?: number; epsilon?: number };

/**
 * One layer of a {@link Sequential} network. Activations are sample-major batches: `[B, C, H, W]`
 * or `[B, F]`. `forward` may return an internal buffer that is reused by the next call, so callers
 * copy what they need to keep. `backward` must follow the matching `forward(…, training = true)`.
 */
export interface Layer {
  readonly config: LayerConfig;
  /** Per-sample input and output shapes. */
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  forward(x: Float32Array, batch: number, training: boolean): Float32Array;
  /** Accumulates parameter gradients and returns dL/dx (or an empty array if `needInputGrad` is false). */
  backward(dy: Float32Array, batch: number, needInputGrad: boolean): Float32Array;
  params(): Param[];
  /** Non-trainable state saved with the parameters (absent = none). */
  buffers?(): StateBuffer[];
}

/** Size of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Returns `buf` if it has exactly `n` elements, else a new zeroed array (buffers are reused per batch size). */
export function ensure(buf: Float32Array | undefined, n: number): Float32Array {
  return buf !== undefined && buf.length === n ? buf : new Float32Array(n);
}
