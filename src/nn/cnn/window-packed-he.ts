import type { HeContext } from '../../he/context.ts';
import { decrypt, encryptSymmetric, encryptSymmetricSeeded } from '../../he/crypt.ts';
import { decodeSlots, encodeSlots } from '../../he/encoder.ts';
import { Evaluator } from '../../he/evaluator.ts';
import { createFloodMask } from '../../he/flood-mask.ts';
import type { Ciphertext, Plaintext } from '../../he/handles.ts';
import type { EvaluationKeys, KeySet } from '../../he/keys.ts';
import { uniforms53 } from '../../he/uniform.ts';
import { NnError } from '../errors.ts';
import { packWindowInputs, type WindowPackedLayout, type WindowPackedPlan } from './window-packed.ts';

/**
 * Encryption, server program and decryption of the window-packed layout (see window-packed.ts).
 * Browser-capable: randomness from `crypto.getRandomValues`.
 */

function checkContext(ctx: HeContext, plan: WindowPackedLayout, op: string): void {
  const want = plan.chain.literal;
  const p = ctx.params;
  if (
    p.polyModulusDegree !== want.polyModulusDegree ||
    p.coeffModulusBits.length !== want.coeffModulusBits.length ||
    p.coeffModulusBits.some((b, i) => b !== want.coeffModulusBits[i])
  ) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot ${op}: context N=${p.polyModulusDegree} [${p.coeffModulusBits.join(',')}] is not the plan's N=${want.polyModulusDegree} [${want.coeffModulusBits.join(',')}]`,
    );
  }
}

function encodeInputs(
  ctx: HeContext,
  plan: WindowPackedLayout,
  patches: readonly ArrayLike<number>[],
): Plaintext[] {
  checkContext(ctx, plan, 'encrypt windows');
  const period = plan.block * plan.copies;
  return packWindowInputs(plan, patches).map((v) =>
    encodeSlots(ctx, v, { period, scale: 2 ** plan.chain.inputScaleBits }),
  );
}

/** Client: preprocess, lay out and encrypt a set of patches (caller disposes the ciphertexts). */
export function encryptWindowInputs(
  ctx: HeContext,
  keys: KeySet,
  plan: WindowPackedLayout,
  patches: readonly ArrayLike<number>[],
): Ciphertext[] {
  const pts = encodeInputs(ctx, plan, patches);
  try {
    return pts.map((pt) => encryptSymmetric(keys, pt));
  } finally {
    for (const pt of pts) pt[Symbol.dispose]();
  }
}

/** Client: the same as seeded serializations (what is uploaded: half the size). */
export function encryptWindowInputsSeeded(
  ctx: HeContext,
  keys: KeySet,
  plan: WindowPackedLayout,
  patches: readonly ArrayLike<number>[],
): Uint8Array[] {
  const pts = encodeInputs(ctx, plan, patches);
  try {
    return pts.map((pt) => encryptSymmetricSeeded(keys, pt));
  } finally {
    for (const pt of pts) pt[Symbol.dispose]();
  }
}

/** Client: decrypts the output ciphertexts and sums each patch's windows → per-patch logits. */
export function decryptWindowOutputs(
  keys: KeySet,
  plan: WindowPackedLayout,
  outs: readonly Ciphertext[],
  count: number,
): Float64Array[] {
  if (outs.length !== plan.outputs) {
    throw new NnError(
      'NN_SHAPE_MISMATCH',
      `cannot decrypt windows: ${outs.length} ciphertexts, plan has ${plan.outputs}`,
    );
  }
  if (!Number.isSafeInteger(count) || count < 1 || count > plan.patches) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot decrypt windows: count ${count} not in 1…${plan.patches}`,
    );
  }
  const { block: S, copies, windows: nw } = plan;
  // Every response has one shape: level 1, scale 2^outputScaleBits, size 2 (a server that skipped
  // the dense rescale or the protection would differ).
  const level = plan.chain.literal.coeffModulusBits.length - 4;
  outs.forEach((ct, o) => {
    if (
      ct.level !== level ||
      ct.size !== 2 ||
      Math.abs(Math.log2(ct.scale) - plan.chain.outputScaleBits) > 1e-9
    ) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `cannot decrypt windows: output ${o} at level ${ct.level}, scale 2^${Math.log2(ct.scale).toFixed(3)}, size ${ct.size}; plan says level ${level}, 2^${plan.chain.outputScaleBits}, 2`,
      );
    }
  });
  const logits = Array.from({ length: count }, () => new Float64Array(plan.classes));
  outs.forEach((ct, o) => {
    using pt = decrypt(keys, ct);
    const v = decodeSlots(pt, S * copies);
    for (let j = 0; j < copies; j++) {
      const k = o * copies + j;
      if (k >= plan.classes) break;
      for (let p = 0; p < count; p++) {
        let s = 0;
        for (let w = 0; w < nw; w++) s += v[j * S + p * nw + w];
        logits[p][k] = s;
      }
    }
  });
  return logits;
}

/** Uniform reals in [−r, r) from a CSPRNG (53-bit resolution). */
function uniforms(count: number, r: number): Float64Array {
  const out = uniforms53(count);
  for (let i = 0; i < count; i++) out[i] = (2 * out[i] - 1) * r;
  return out;
}

/**
 * Server side of a window-packed plan: plaintext weights encoded once (conv: C_out × inputs vectors
 * at the top level; dense: outputs × C_out vectors at level 2), then {@link run} per request.
 * Dispose when done.
 */
export class WindowPackedServer {
  readonly plan: WindowPackedPlan;
  readonly #ctx: HeContext;
  readonly #keys: EvaluationKeys;
  readonly #ev: Evaluator;
  readonly #conv: Plaintext[][];
  readonly #convBias: Plaintext[];
  readonly #dense: Plaintext[][];

  constructor(ctx: HeContext, keys: EvaluationKeys, plan: WindowPackedPlan) {
    checkContext(ctx, plan, 'create window-packed server');
    if (keys.context.params.fingerprint !== ctx.params.fingerprint) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        'cannot create window-packed server: keys belong to another context',
      );
    }
    this.plan = plan;
    this.#ctx = ctx;
    this.#keys = keys;
    this.#ev = new Evaluator(ctx, keys);
    const { block: S, copies, windows: nw, channels: C, elements: E } = plan;
    const period = S * copies;
    const top = ctx.maxLevel;
    if (top !== 3)
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `cannot create window-packed server: ${top + 1} data primes, 4 expected`,
      );
    const qConv = Number(ctx.level(top).primes.at(-1)!);
    const qDense = Number(ctx.level(top - 1).primes.at(-1)!);
    const used = plan.patches * nw;
    this.#conv = [];
    this.#dense = [];
    this.#convBias = [];
    try {
      for (let c = 0; c < C; c++) {
        const row: Plaintext[] = [];
        this.#conv.push(row);
        for (let i = 0; i < plan.inputs; i++) {
          const v = new Float64Array(period);
          for (let j = 0; j < copies; j++) {
            const e = i * copies + j;
            if (e < E) v.fill(plan.convWeight[c * E + e], j * S, j * S + used);
          }
          row.push(encodeSlots(ctx, v, { period, level: top, scale: qConv }));
        }
        this.#convBias.push(
          encodeSlots(ctx, [plan.convBias[c]], {
            period: 1,
            level: top - 1,
            scale: 2 ** plan.chain.inputScaleBits,
          }),
        );
      }
      // h = u² at 2^(2·input); the products are rescaled by the level-2 prime to land at 2^output.
      const denseScale = (2 ** plan.chain.outputScaleBits * qDense) / 2 ** (2 * plan.chain.inputScaleBits);
      for (let o = 0; o < plan.outputs; o++) {
        const row: Plaintext[] = [];
        this.#dense.push(row);
        for (let c = 0; c < C; c++) {
          const v = new Float64Array(period);
          for (let j = 0; j < copies; j++) {
            const k = o * copies + j;
            if (k >= plan.classes) break;
            const wk = plan.head.subarray(k * C * nw + c * nw, k * C * nw + (c + 1) * nw);
            for (let p = 0; p < plan.patches; p++) v.set(wk, j * S + p * nw);
          }
          row.push(encodeSlots(ctx, v, { period, level: top - 1, scale: denseScale }));
        }
      }
    } catch (e) {
      this[Symbol.dispose]();
      throw e;
    }
  }

  /**
   * @internal The weights as the server's plaintexts actually carry them (decoded real parts, one
   * period): what a measurement of the noise alone (excluding the encoding's rounding of the
   * weights, a fixed perturbation of the weights themselves) compares against.
   */
  _effectiveWeights(): { conv: Float64Array[][]; convBias: number[]; dense: Float64Array[][] } {
    const period = this.plan.block * this.plan.copies;
    const dec = (p: Plaintext) => decodeSlots(p, period);
    return {
      conv: this.#conv.map((row) => row.map(dec)),
      convBias: this.#convBias.map((p) => decodeSlots(p, 1)[0]),
      dense: this.#dense.map((row) => row.map(dec)),
    };
  }

  /**
   * @internal The program up to the dense layer: per output ciphertext the raw per-window partial
   * products (no bias, no masks). Never return these to a client; {@link run} protects them.
   */
  _compute(inputs: readonly Ciphertext[]): Ciphertext[] {
    const { plan } = this;
    const ev = this.#ev;
    if (inputs.length !== plan.inputs) {
      throw new NnError(
        'NN_SHAPE_MISMATCH',
        `cannot run window-packed plan: ${inputs.length} ciphertexts, plan has ${plan.inputs}`,
      );
    }
    const top = this.#ctx.maxLevel;
    for (const [i, x] of inputs.entries()) {
      if (
        x.level !== top ||
        x.size !== 2 ||
        Math.abs(Math.log2(x.scale) - plan.chain.inputScaleBits) > 1e-9
      ) {
        throw new NnError(
          'NN_INVALID_ARGUMENT',
          `cannot run window-packed plan: input ${i} at level ${x.level}, scale 2^${Math.log2(x.scale).toFixed(3)}, size ${x.size}; plan says level ${top}, 2^${plan.chain.inputScaleBits}, 2`,
        );
      }
    }
    const hs: Ciphertext[] = [];
    const outs: Ciphertext[] = [];
    try {
      for (let c = 0; c < plan.channels; c++) {
        let acc = this.#dot(inputs, this.#conv[c]);
        try {
          // Fold the blocks before rescaling: a rotation's key-switching noise (~2^17 in slot
          // units) is then relative to 2^100, not 2^50 (where it would dominate the
          // weight-dependent noise).
          for (const st of plan.galoisSteps) {
            using r = ev.rotate(acc, st);
            const s = ev.add(acc, r);
            acc[Symbol.dispose]();
            acc = s;
          }
          using u = ev.rescale(acc);
          using ub = ev.addPlain(u, this.#convBias[c]);
          // No rescale here: rescaling at the square's scale would add rounding noise of ~2^11
          // at 2^40, the largest weight-dependent noise term; after the dense products it lands
          // at 2^65.
          using sq = ev.square(ub);
          hs.push(ev.relinearize(sq));
        } finally {
          acc[Symbol.dispose]();
        }
      }
      for (let o = 0; o < plan.outputs; o++) {
        using acc = this.#dot(hs, this.#dense[o]);
        outs.push(ev.rescale(acc));
      }
      return outs;
    } catch (e) {
      for (const z of outs) z[Symbol.dispose]();
      throw e;
    } finally {
      for (const h of hs) h[Symbol.dispose]();
    }
  }

  /** Σ_i xs[i] ⊙ pts[i]; every temporary is disposed, also when an operation throws. */
  #dot(xs: readonly Ciphertext[], pts: readonly Plaintext[]): Ciphertext {
    const ev = this.#ev;
    let acc = ev.multiplyPlain(xs[0], pts[0]);
    try {
      for (let i = 1; i < pts.length; i++) {
        using p = ev.multiplyPlain(xs[i], pts[i]);
        const s = ev.add(acc, p);
        acc[Symbol.dispose]();
        acc = s;
      }
      return acc;
    } catch (e) {
      acc[Symbol.dispose]();
      throw e;
    }
  }

  /**
   * What a server adds to each output ciphertext, one per output, single-use: the class biases
   * (window 0 of each patch) and, when the plan protects, a fresh zero-sum mask per (patch, class)
   * over its windows (uniform in ±2^maskBits) inside a fresh public-key encryption of a Gaussian
   * flood of width 2^floodSigmaBits — adding it re-randomizes (c0, c1), hides the per-window
   * partial products and floods the weight-dependent noise. Masks do not depend on the query: a
   * server can make them ahead of time, off the request path.
   */
  createMasks(): Ciphertext[] {
    const { plan } = this;
    const { block: S, copies, windows: nw } = plan;
    const period = S * copies;
    const R = 2 ** plan.maskBits;
    const level = this.#ctx.maxLevel - 2;
    const scale = 2 ** plan.chain.outputScaleBits;
    const layout = { kind: 'slots', length: period, period } as const;
    const masks: Ciphertext[] = [];
    try {
      for (let o = 0; o < plan.outputs; o++) {
        const v = new Float64Array(period);
        for (let j = 0; j < copies; j++) {
          const k = o * copies + j;
          if (k >= plan.classes) break;
          for (let p = 0; p < plan.patches; p++) {
            const off = j * S + p * nw;
            if (plan.protect) {
              const m = uniforms(nw - 1, R);
              let sum = 0;
              for (let w = 0; w < nw - 1; w++) {
                v[off + w] = m[w];
                sum += m[w];
              }
              v[off + nw - 1] = -sum;
            }
            v[off] += plan.headBias[k];
          }
        }
        using pt = encodeSlots(this.#ctx, v, { period, level, scale });
        // Unprotected (tests, benchmarks): a transparent carrier is not allowed, so the biases ride
        // on a flood of width 1.
        const sigma = plan.protect ? 2 ** plan.floodSigmaBits : 1;
        using flood = createFloodMask(this.#keys, { level, scale, layout, sigma });
        masks.push(this.#ev.addPlain(flood, pt));
      }
      return masks;
    } catch (e) {
      for (const m of masks) m[Symbol.dispose]();
      throw e;
    }
  }

  /** @internal Adds one mask per output (made here unless given; given masks are consumed). Consumes `outs`. */
  _finish(outs: Ciphertext[], masks?: Ciphertext[]): Ciphertext[] {
    const result: Ciphertext[] = [];
    let ms: Ciphertext[] = masks ?? [];
    try {
      if (masks === undefined) ms = this.createMasks();
      if (ms.length !== outs.length) {
        throw new NnError(
          'NN_INVALID_ARGUMENT',
          `cannot protect windows: ${ms.length} masks for ${outs.length} outputs`,
        );
      }
      for (const [o, z] of outs.entries()) {
        const m = ms[o];
        if (m.disposed) {
          throw new NnError(
            'NN_INVALID_ARGUMENT',
            'cannot protect windows: a mask was already used (masks are single-use)',
          );
        }
        if (m.level !== z.level || Math.abs(m.scale / z.scale - 1) > 1e-9) {
          throw new NnError(
            'NN_INVALID_ARGUMENT',
            `cannot protect windows: mask at level ${m.level}, scale 2^${Math.log2(m.scale).toFixed(3)}; output at ${z.level}, 2^${Math.log2(z.scale).toFixed(3)}`,
          );
        }
        using tagged = m.withLayout(z.layout);
        result.push(this.#ev.add(z, tagged));
      }
      return result;
    } catch (e) {
      for (const r of result) r[Symbol.dispose]();
      throw e;
    } finally {
      for (const z of outs) z[Symbol.dispose]();
      for (const m of ms) m[Symbol.dispose]();
    }
  }

  /**
   * One request: the encrypted window-packed inputs → the protected output ciphertexts (caller
   * disposes). `masks` from {@link createMasks} (consumed) move the mask cost off the request path.
   */
  run(inputs: readonly Ciphertext[], masks?: Ciphertext[]): Ciphertext[] {
    return this._finish(this._compute(inputs), masks);
  }

  [Symbol.dispose](): void {
    for (const p of [...this.#conv.flat(), ...this.#convBias, ...this.#dense.flat()]) p[Symbol.dispose]();
  }
}
