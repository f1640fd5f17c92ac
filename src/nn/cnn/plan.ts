import type { ParametersLiteral } from '../../he/params.ts';
import { NnError } from '../errors.ts';
import type { Preprocessing } from './ir.ts';

/** Version of the plan artifact; bumped on any incompatible change, checked on load. */
export const CNN_PLAN_VERSION = 1;

/**
 * How the client lays the (preprocessed) input into the slots of its single ciphertext.
 *
 * - `im2col`: the client unrolls the first convolution's patches (see packing.ts for the drawing).
 * - `vector`: element e of the flattened input at slot e, repeated with period `period`.
 */
export type InputLayout =
  | {
      readonly kind: 'im2col';
      readonly shape: readonly [number, number, number];
      readonly kernel: readonly [number, number];
      readonly stride: readonly [number, number];
      readonly padding: readonly [number, number];
      /** Slots per kernel-element block (next power of two ≥ number of windows). */
      readonly windowBlock: number;
      /** Number of kernel-element blocks (power of two). */
      readonly kBlocks: number;
      readonly period: number;
    }
  | { readonly kind: 'vector'; readonly size: number; readonly period: number };

/** Where the outputs sit in the decrypted slots: output i at slot `positions[i]`. */
export interface OutputLayout {
  readonly period: number;
  readonly positions: readonly number[];
}

/**
 * One step of the encrypted program. Each consumes exactly one level, except `save` and `residual`. Values arrays have the
 * stage's period length and are repeated over all slots when encoded.
 */
export type Stage =
  | {
      /** First convolution on im2col-packed input: Σ_r rot(x, r·block)·W_r, then a rotation tree. */
      readonly kind: 'im2col-conv';
      readonly period: number;
      readonly rotations: readonly number[];
      readonly weights: readonly (readonly number[])[];
      readonly reduceSteps: readonly number[];
      readonly outPeriod: number;
      readonly bias: readonly number[];
    }
  | {
      /**
       * Matrix–vector product by the diagonal method with baby-step/giant-step:
       * y = Σ_g rot_{g·B}( Σ_b diag'_{g,b} ⊙ rot_b(x) ), then a rotation tree over the row blocks.
       */
      readonly kind: 'linear';
      readonly period: number;
      readonly babySteps: readonly number[];
      readonly giants: readonly {
        readonly step: number;
        readonly terms: readonly { readonly baby: number; readonly values: readonly number[] }[];
      }[];
      readonly reduceSteps: readonly number[];
      readonly outPeriod: number;
      readonly bias: readonly number[];
    }
  /** y = (x + shift)², the HE form of a degree-2 polynomial whose scale/offset were folded away. */
  | { readonly kind: 'square'; readonly shift: number; readonly period: number }
  /** Keeps a copy of the current value in a register (a residual will read it). No level. */
  | { readonly kind: 'save'; readonly register: number }
  /**
   * y = x + saved: the saved value is brought to x's scale (a product by 1 encoded at the ratio,
   * on the saved branch's spare level) and level (mod-switch), then added. No level on the main path.
   */
  | { readonly kind: 'residual'; readonly register: number; readonly period: number }
  /**
   * Output extraction: x ⊙ mask (1 at the output slots of the first period, 0 on every other slot
   * of the ring), rescaled to exactly 2^scaleBits, so non-output slots carry only noise.
   */
  | {
      readonly kind: 'extract';
      readonly positions: readonly number[];
      readonly scaleBits: number;
    }
  /** y = a ⊙ x + b, when a polynomial's affine part cannot be folded into a following linear stage. */
  | {
      readonly kind: 'affine';
      readonly period: number;
      readonly scale: readonly number[];
      readonly bias: readonly number[];
    };

/**
 * How every response is protected (see README "What a response reveals"): extracted to the output
 * slots, re-randomized by a fresh public-key encryption, and flooded by a rounded Gaussian of width
 * 2^floodSigmaBits per coefficient. Every response has this level and scale and size 2.
 */
export interface OutputProtection {
  readonly level: number;
  readonly scaleBits: number;
  readonly floodSigmaBits: number;
  /**
   * Predicted statistical distance exponent: the weight-dependent noise is hidden up to 2^−lambda
   * (Pinsker bound ‖e‖₂/(2σ), ‖e‖₂ ≤ √2·max slot error, error predicted from the scale).
   */
  readonly lambda: number;
}

/** What the client needs: parameters, keys to make, how to pack the input and read the output. */
export interface ClientPlan {
  readonly format: 'blinddx-cnn-client';
  readonly version: number;
  readonly model: string;
  /** Preset name when the parameters are a reviewed preset, else undefined (a validated literal). */
  readonly preset?: string;
  readonly params: ParametersLiteral;
  readonly preprocessing?: Preprocessing;
  readonly input: InputLayout;
  readonly output: OutputLayout;
  readonly galoisSteps: readonly number[];
  readonly relin: boolean;
  readonly classes?: readonly string[];
  /** Present when responses are protected; the client checks each response against it. */
  readonly protection?: OutputProtection;
}

/** What the server needs: the same parameters and the weights as a stage program. */
export interface ServerPlan {
  readonly format: 'blinddx-cnn-server';
  readonly version: number;
  readonly model: string;
  readonly params: ParametersLiteral;
  readonly stages: readonly Stage[];
  /** The evaluation keys the server must receive: exactly these Galois steps, relin if any square. */
  readonly galoisSteps: readonly number[];
  readonly relin: boolean;
  /** Present when responses are protected (the served default). */
  readonly protection?: OutputProtection;
}

/** Counts that predict cost, reported by the planner. */
export interface PlanStats {
  readonly depth: number;
  readonly rotations: number;
  readonly plainMultiplications: number;
  readonly ciphertextMultiplications: number;
  readonly galoisKeys: number;
  /**
   * Level and log2(scale) after each stage, simulated from the chosen prime sizes (primes taken as
   * 2^bits): products use the exact-scale rule (scale unchanged), a square gives scale²/q.
   */
  readonly schedule: readonly {
    readonly stage: number;
    readonly kind: Stage['kind'];
    readonly level: number;
    readonly scaleBits: number;
  }[];
}

/** A compiled plan: the two role artifacts plus statistics. */
export interface CnnPlan {
  readonly client: ClientPlan;
  readonly server: ServerPlan;
  readonly stats: PlanStats;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new NnError('NN_INVALID_ARGUMENT', `cannot load plan: ${what}`);
}

/** Validates a client artifact (parsed JSON) and its version. */
export function loadClientPlan(json: unknown): ClientPlan {
  const p = json as ClientPlan;
  check(
    p !== null && typeof p === 'object' && p.format === 'blinddx-cnn-client',
    'expected a blinddx-cnn-client artifact',
  );
  check(p.version === CNN_PLAN_VERSION, `version ${String(p.version)} is not ${CNN_PLAN_VERSION}`);
  check(Array.isArray(p.galoisSteps) && Array.isArray(p.output?.positions), 'missing galoisSteps or output');
  check(p.input?.kind === 'im2col' || p.input?.kind === 'vector', 'unknown input layout');
  return p;
}

/** Validates a server artifact (parsed JSON) and its version. */
export function loadServerPlan(json: unknown): ServerPlan {
  const p = json as ServerPlan;
  check(
    p !== null && typeof p === 'object' && p.format === 'blinddx-cnn-server',
    'expected a blinddx-cnn-server artifact',
  );
  check(p.version === CNN_PLAN_VERSION, `version ${String(p.version)} is not ${CNN_PLAN_VERSION}`);
  check(Array.isArray(p.stages) && p.stages.length > 0, 'no stages');
  return p;
}
