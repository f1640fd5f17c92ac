import type { Parameters } from '../he/params.ts';
import { NnError } from './errors.ts';
import type { LinearHeadSpec } from './head.ts';

/**
 * Rotation-free encrypted linear head: how the embedding and the weights sit in polynomial
 * coefficients, which scales they use, and how much the result is flooded.
 *
 * With x at coefficients 0…d−1 and class j of a group encoded as Σ_i w_ji·X^(j·d + d−1−i),
 * one plaintext multiplication puts ⟨x, w_j⟩ in coefficient j·d + d−1 (no rotations, no Galois
 * keys). Cross terms x_i·w_jk (i≠k) land in j·d … j·d+2d−2, never on another class's output, as
 * long as (classes per group)·d ≤ N:
 * ```
 * coeff:  0 ……… d−1 | d ……… 2d−1 | …
 *         x0 … x(d−1)
 * W:      w0,(d−1) … w0,0 | w1,(d−1) … w1,0 | …      (class 0, class 1, …)
 * x·W:    ░░░░░░░ ⟨x,w0⟩ | ░░░░░░░ ⟨x,w1⟩ | …        (░ = cross terms, masked before return)
 * ```
 */
export interface CoeffHeadClientPlan {
  readonly method: 'rotation-free';
  readonly inputDim: number;
  readonly outputs: number;
  /** log2 of the embedding scale Δx (a power of two so it reveals little about the weights). */
  readonly inputScaleBits: number;
  /** Largest |x_i| the plan is sized for; the client refuses embeddings beyond it. */
  readonly embeddingBound: number;
  /** Per output ciphertext, the coefficient positions of its logits, in class order. */
  readonly groups: readonly (readonly number[])[];
  /** Scale of returned ciphertexts: Δx·Δw. */
  readonly outputScaleBits: number;
  /** Bound on |decrypted logit − float64 logit| implied by encoding, noise and flooding. */
  readonly predictedMaxError: number;
  readonly floodSecurityBits: number;
}

/** Server-only additions: the weight scale and the flood magnitude. */
export interface CoeffHeadServerPlan extends CoeffHeadClientPlan {
  readonly weightScaleBits: number;
  /** log2 of the flood magnitude in scaled units. */
  readonly floodBits: number;
}

/** Options for {@link planCoeffHead}. */
export interface CoeffHeadPlanOptions {
  readonly params: Parameters;
  /** Largest |embedding value| to support (the client checks it). */
  readonly embeddingBound: number;
  /** Statistical security of the noise flooding, in bits (default 40). */
  readonly floodSecurityBits?: number;
}

// SEAL's fresh-encryption noise is a Gaussian with σ = 3.2 clipped at 6σ ≈ 19.2 per coefficient.
const FRESH_NOISE_BOUND = 20;

/**
 * Chooses positions, scales and flooding for a linear head, maximizing precision within the top
 * data level's modulus. Throws `NN_INVALID_ARGUMENT` when the head cannot fit with error < 1e-4.
 */
export function planCoeffHead(head: LinearHeadSpec, opts: CoeffHeadPlanOptions): CoeffHeadServerPlan {
  const { params } = opts;
  const n = params.polyModulusDegree;
  const d = head.inputDim;
  const k = head.outputs;
  const lambda = opts.floodSecurityBits ?? 40;
  const bound = opts.embeddingBound;
  if (params.scheme !== 'ckks')
    throw new NnError('NN_INVALID_ARGUMENT', 'cannot plan rotation-free head: needs a CKKS preset');
  if (!(bound > 0) || !Number.isFinite(bound))
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot plan rotation-free head: "embeddingBound" must be positive, got ${bound}`,
    );
  if (d > n)
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot plan rotation-free head: embedding of ${d} exceeds ring degree ${n}`,
    );
  const perGroup = Math.floor(n / d);
  const groups: number[][] = [];
  for (let c = 0; c < k; c++) {
    const g = Math.floor(c / perGroup);
    const j = c % perGroup;
    (groups[g] ??= []).push(j * d + d - 1);
  }
  // Top data level: all primes but the special one.
  const logQ = params.coeffModulusBits.slice(0, -1).reduce((a, b) => a + b, 0);
  const w1 = Math.max(...head.weights.map((row) => row.reduce((a, v) => a + Math.abs(v), 0)), 2 ** -20);
  const bMax = Math.max(...head.bias.map(Math.abs), 0);
  const logitBound = w1 * bound + bMax;
  // Room for Δx·Δw: the output coefficient S·logit + flood must stay below Q/2 (2 bits margin).
  const budget = Math.floor(logQ - Math.log2(logitBound) - 3);
  // Error terms (in logit units): flood 2^λ·20·w1/Δx, embedding rounding 0.5·w1/Δx,
  // weight rounding 0.5·d·bound/Δw. Balance the first and last: Δx/Δw = 2^λ·40·w1/(d·bound).
  const ratio = Math.log2((2 ** lambda * 2 * FRESH_NOISE_BOUND * w1) / (d * bound));
  const xBits = Math.min(Math.floor((budget + ratio) / 2), Math.floor(60 + 58 - Math.log2(bound)));
  const wBits = budget - xBits;
  const floodBits = Math.ceil(lambda + Math.log2(FRESH_NOISE_BOUND * w1) + wBits + 1);
  const predictedMaxError =
    (2 ** floodBits + FRESH_NOISE_BOUND * 2 ** wBits * w1) / 2 ** (xBits + wBits) +
    (0.5 * w1) / 2 ** xBits +
    (0.5 * d * bound) / 2 ** wBits;
  if (wBits < 10 || xBits < 10 || !(predictedMaxError < 1e-4) || floodBits + 2 > logQ) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot plan rotation-free head: ${logQ}-bit modulus leaves error bound ${predictedMaxError.toExponential(2)} (choose a preset with more data bits or a lower embeddingBound)`,
    );
  }
  return Object.freeze({
    method: 'rotation-free',
    inputDim: d,
    outputs: k,
    inputScaleBits: xBits,
    embeddingBound: bound,
    groups: Object.freeze(groups.map((g) => Object.freeze(g))),
    outputScaleBits: xBits + wBits,
    predictedMaxError,
    floodSecurityBits: lambda,
    weightScaleBits: wBits,
    floodBits,
  });
}

/** The part of a plan the client may see (drops the weight scale and flood size). */
export function clientPlanOf(plan: CoeffHeadServerPlan): CoeffHeadClientPlan {
  const { weightScaleBits: _w, floodBits: _f, ...client } = plan;
  return Object.freeze(client);
}
