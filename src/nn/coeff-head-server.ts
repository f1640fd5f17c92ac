import type { HeContext } from '../he/context.ts';
import { encodeCoeffs } from '../he/encoder.ts';
import type { Evaluator } from '../he/evaluator.ts';
import type { Ciphertext, Plaintext } from '../he/handles.ts';
import type { EvaluationKeys } from '../he/keys.ts';
import { createResultMask } from '../he/result-mask.ts';
import type { CoeffHeadServerPlan } from './coeff-head-plan.ts';
import { NnError } from './errors.ts';
import type { LinearHeadSpec } from './head.ts';

/**
 * The vendor side of the rotation-free head: weights encoded once per context, masks made per
 * query (or ahead of time), evaluation = one plaintext multiplication and one addition per group.
 */
export class CoeffHeadEvaluator {
  readonly plan: CoeffHeadServerPlan;
  readonly context: HeContext;
  readonly #head: LinearHeadSpec;
  readonly #weights: Plaintext[];

  constructor(context: HeContext, head: LinearHeadSpec, plan: CoeffHeadServerPlan) {
    this.context = context;
    this.plan = plan;
    this.#head = head;
    const d = plan.inputDim;
    const perGroup = plan.groups[0]?.length ?? 0;
    this.#weights = plan.groups.map((positions, g) => {
      const values: number[] = [];
      const where: number[] = [];
      positions.forEach((outPos, j) => {
        const row = head.weights[g * perGroup + j];
        for (let i = 0; i < d; i++) {
          values.push(row[i]);
          where.push(outPos - i);
        }
      });
      return encodeCoeffs(context, values, { positions: where, scale: 2 ** plan.weightScaleBits });
    });
  }

  /** Level at which inputs arrive and results leave. */
  get level(): number {
    return this.context.maxLevel;
  }

  /**
   * One mask per output group (bias and flooding included). Independent of the query, so a server
   * may build them ahead of time; each must be used once.
   */
  createMasks(keys: EvaluationKeys): Ciphertext[] {
    const perGroup = this.plan.groups[0]?.length ?? 0;
    return this.plan.groups.map((positions, g) =>
      createResultMask(keys, {
        level: this.level,
        scale: 2 ** this.plan.outputScaleBits,
        outputs: positions,
        addValues: positions.map((_, j) => this.#head.bias[g * perGroup + j]),
        floodBits: this.plan.floodBits,
      }),
    );
  }

  /** Evaluates the head on an encrypted embedding; consumes `masks` (one per group, disposed here). */
  evaluate(ev: Evaluator, input: Ciphertext, masks: Ciphertext[]): Ciphertext[] {
    if (masks.length !== this.#weights.length) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `cannot evaluate head: ${this.#weights.length} masks needed, got ${masks.length}`,
      );
    }
    try {
      return this.#weights.map((w, g) => {
        using prod = ev.multiplyPlain(input, w, masks[g].layout);
        return ev.add(prod, masks[g]);
      });
    } finally {
      for (const m of masks) m[Symbol.dispose]();
    }
  }

  [Symbol.dispose](): void {
    for (const w of this.#weights) w[Symbol.dispose]();
  }
}
