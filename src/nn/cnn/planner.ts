import { nextPow2 } from '../../he/encoder.ts';
import { parametersToLiteral } from '../../he/params.ts';
import { getPreset } from '../../he/presets.ts';
import { NnError } from '../errors.ts';
import { type AffineMap, affineOf, isAffineLayer } from './affine.ts';
import { outputProtection } from './batch-protection.ts';
import { planLinear, stageSteps } from './diagonal.ts';
import { foldBatchNorm } from './fold-batchnorm.ts';
import { planIm2colConv } from './im2col.ts';
import { type CnnLayer, type CnnModel, modelShapes, type Shape, shapeSize } from './ir.ts';
import { chooseCnnParameters } from './parameters.ts';
import {
  CNN_PLAN_VERSION,
  type CnnPlan,
  type InputLayout,
  type OutputProtection,
  type Stage,
} from './plan.ts';

/** Planner options. */
export interface PlanOptions {
  /** Least acceptable CKKS scale in bits (default 26). */
  readonly minScaleBits?: number;
  /** Integer bits reserved for outputs (default 10). */
  readonly integerBits?: number;
  /** Pack the first convolution by im2col (default true). */
  readonly im2col?: boolean;
  /** Force a named preset (checked to fit) instead of choosing the smallest parameters. */
  readonly preset?: string;
  /**
   * Protect every response (default true, what a served plan must use): extract the output slots,
   * re-randomize and flood (see {@link OutputProtection}). Costs one level and a 60-bit output
   * prime. `false` only for benchmarks and tests that compare against the unprotected program.
   */
  readonly protect?: boolean;
}

/** Slots of the largest ring the planner considers; packing never needs more. */
const MAX_SLOTS = 16384;

/**
 * Compiles a model into an encrypted-inference plan without any key: folds BatchNorm, fuses runs of
 * affine layers into one matrix each, packs the first convolution by im2col, turns every other
 * linear run into a baby-step/giant-step diagonal product, evaluates each degree-2 polynomial as
 * one square (its scale and offset folded into the next linear stage, or into the next square's
 * shift when two squares follow each other), counts levels, picks the smallest 128-bit parameters
 * and lists the exact Galois steps.
 *
 * Unsupported constructs are all reported together in one `NN_INVALID_ARGUMENT` error.
 *
 * @example
 * const plan = planCnn(model);
 * plan.client.galoisSteps; // what the client must make keys for
 */
export function planCnn(input: CnnModel, opts: PlanOptions = {}): CnnPlan {
  const model = foldBatchNorm(input);
  const shapes = modelShapes(model);
  const problems: string[] = [];
  model.layers.forEach((l, i) => {
    if (l.op === 'poly' && l.coeffs.length > 3) {
      problems.push(`layer ${i} (poly): degree ${l.coeffs.length - 1} > 2 (use x² or a degree-2 polynomial)`);
    }
  });

  // Segment into affine runs and degree-2 activations.
  // Outputs a residual Add reads must exist as ciphertexts: affine runs end there.
  const saves = new Set(model.layers.flatMap((l) => (l.op === 'add' ? [l.from] : [])));
  type Segment =
    | { kind: 'affine'; layers: CnnLayer[]; inShape: Shape; end: number }
    | { kind: 'poly'; coeffs: readonly number[]; end: number }
    | { kind: 'add'; from: number; end: number };
  const segments: Segment[] = [];
  model.layers.forEach((l, i) => {
    if (isAffineLayer(l)) {
      const last = segments.at(-1);
      if (last?.kind === 'affine' && !saves.has(last.end)) {
        last.layers.push(l);
        last.end = i;
      } else segments.push({ kind: 'affine', layers: [l], inShape: shapes[i], end: i });
    } else if (l.op === 'poly') {
      const [c0 = 0, c1 = 0, c2 = 0] = l.coeffs;
      segments.push({ kind: 'poly', coeffs: [c0, c1, c2], end: i });
    } else if (l.op === 'add') {
      segments.push({ kind: 'add', from: l.from, end: i });
    }
  });

  const stages: Stage[] = [];
  let positions: number[];
  let period: number;
  let inputLayout: InputLayout;
  let seg = 0;
  let im2colUsed = false;
  const first = segments[0];
  if (
    first.kind === 'affine' &&
    first.layers[0].op === 'conv2d' &&
    model.inputShape.length === 3 &&
    opts.im2col !== false
  ) {
    const conv = first.layers[0];
    im2colUsed = true;
    const r = planIm2colConv(conv, model.inputShape, MAX_SLOTS);
    stages.push(r.stage);
    inputLayout = r.input;
    positions = r.outPositions;
    period = r.stage.kind === 'im2col-conv' ? r.stage.outPeriod : r.input.period;
    const rest = first.layers.slice(1);
    if (rest.length > 0)
      segments[0] = {
        kind: 'affine',
        layers: rest,
        inShape: modelShapes({ ...model, layers: [conv] })[1],
        end: first.end,
      };
    else seg = 1;
    if (saves.has(0) && rest.length > 0) {
      problems.push('layer 0 (conv2d): a residual reads it, but it is fused with the next layers');
    }
    if (saves.has(-1)) problems.push('input: a residual reads the im2col-packed input (its layout differs)');
  } else {
    const n = shapeSize(model.inputShape);
    period = nextPow2(n);
    inputLayout = { kind: 'vector', size: n, period };
    positions = Array.from({ length: n }, (_, i) => i);
  }

  // Layouts of saved outputs (register = layer index, −1 = input).
  const saved = new Map<number, { positions: number[]; period: number }>();
  // Pending elementwise a·x + b left by a square, to fold into the next linear stage.
  let pending: { a: number; b: number } | undefined;
  /** Materializes `pending` as its own stage unless it is the identity. */
  const flushPending = () => {
    if (pending && (pending.a !== 1 || pending.b !== 0)) stages.push(affineStage(pending, period));
    pending = undefined;
  };
  const save = (register: number) => {
    if (!saves.has(register)) return;
    flushPending();
    stages.push({ kind: 'save', register });
    saved.set(register, { positions: [...positions], period });
  };
  if (!im2colUsed) save(-1);
  else if (seg === 1) save(0);
  for (; seg < segments.length; seg++) {
    const s = segments[seg];
    if (s.kind === 'add') {
      flushPending();
      const other = saved.get(s.from);
      if (other === undefined) {
        problems.push(`layer ${s.end} (add): the output of layer ${s.from} is not available as a ciphertext`);
      } else if (other.period !== period || other.positions.join() !== positions.join()) {
        problems.push(`layer ${s.end} (add): layer ${s.from}'s slot layout differs from the current one`);
      } else stages.push({ kind: 'residual', register: s.from, period });
      save(s.end);
      continue;
    }
    if (s.kind === 'affine') {
      let map = affineOf(s.layers, s.inShape);
      if (pending) map = foldInput(map, pending.a, pending.b);
      pending = undefined;
      const r = planLinear(map, positions, period, MAX_SLOTS);
      stages.push(r.stage);
      positions = r.outPositions;
      period = r.stage.outPeriod;
      save(s.end);
    } else {
      const [c0, c1, c2] = s.coeffs;
      // Degree > 2 was reported above. Short coefficient lists of degree ≤ 1 are affine layers; one
      // written with a zero x² term ([c0, c1, 0]) lands here and is elementwise affine.
      if (c2 === 0) {
        pending = pending ? { a: c1 * pending.a, b: c1 * pending.b + c0 } : { a: c1, b: c0 };
        save(s.end);
        continue;
      }
      // c2·x² + c1·x + c0 = c2·(x + β)² + γ: one square, the rest is elementwise affine.
      const beta = c1 / (2 * c2);
      const gamma = c0 - c2 * beta * beta;
      if (pending && pending.a !== 0) {
        // Square after square: the input is u = a·x + b (a ≠ 0), and c2·(a·x + b + β)² + γ =
        // c2·a²·(x + (b + β)/a)² + γ, so the pending affine folds into this square's shift and the
        // next pending scale instead of costing a level of its own (the identity x·1 + 0 included).
        const { a, b } = pending;
        stages.push({ kind: 'square', shift: (b + beta) / a, period });
        pending = { a: c2 * a * a, b: gamma };
      } else {
        flushPending();
        stages.push({ kind: 'square', shift: beta, period });
        pending = { a: c2, b: gamma };
      }
      save(s.end);
    }
  }
  if (problems.length > 0)
    throw new NnError('NN_INVALID_ARGUMENT', `cannot plan "${model.name}":\n  ${problems.join('\n  ')}`);
  flushPending();

  const maxPeriod = Math.max(inputLayout.period, ...stages.map((st) => ('period' in st ? st.period : 0)));
  const protect = opts.protect !== false;
  // Levels of the main path; a residual re-aligns its saved operand on the saved branch's levels.
  const depth =
    stages.filter((st) => st.kind !== 'save' && st.kind !== 'residual').length + (protect ? 1 : 0);
  const chosen =
    opts.preset !== undefined
      ? forcedPreset(opts.preset, depth, maxPeriod)
      : chooseCnnParameters({
          depth,
          slots: maxPeriod,
          ...(opts.minScaleBits !== undefined ? { minScaleBits: opts.minScaleBits } : {}),
          ...(opts.integerBits !== undefined ? { integerBits: opts.integerBits } : {}),
          protect,
        });
  let protection: OutputProtection | undefined;
  if (protect) {
    protection = outputProtection(chosen.literal, depth, opts.integerBits ?? 10);
    stages.push({ kind: 'extract', positions: [...positions], scaleBits: protection.scaleBits });
  }
  const steps = [...new Set(stages.flatMap(stageSteps))].sort((a, b) => a - b);
  const relin = stages.some((st) => st.kind === 'square');
  const stats = {
    depth,
    rotations: stages.reduce((acc, st) => acc + stageSteps(st).length, 0), // one rotation per listed step
    plainMultiplications: stages.reduce(
      (acc, st) =>
        acc +
        (st.kind === 'im2col-conv'
          ? st.weights.length
          : st.kind === 'linear'
            ? st.giants.reduce((a, g) => a + g.terms.length, 0)
            : st.kind === 'affine' || st.kind === 'extract'
              ? 1
              : 0),
      0,
    ),
    ciphertextMultiplications: stages.filter((st) => st.kind === 'square').length,
    galoisKeys: steps.length,
    schedule: simulateSchedule(stages, chosen.literal.coeffModulusBits, chosen.literal.scaleBits!),
  };
  const common = { version: CNN_PLAN_VERSION, model: model.name, params: chosen.literal };
  return {
    client: {
      format: 'blinddx-cnn-client',
      ...common,
      ...(chosen.preset ? { preset: chosen.preset } : {}),
      ...(model.preprocessing ? { preprocessing: model.preprocessing } : {}),
      input: inputLayout,
      output: { period, positions },
      galoisSteps: steps,
      relin,
      ...(model.classes ? { classes: model.classes } : {}),
      ...(protection ? { protection } : {}),
    },
    server: {
      format: 'blinddx-cnn-server',
      ...common,
      stages,
      galoisSteps: steps,
      relin,
      ...(protection ? { protection } : {}),
    },
    stats,
  };
}

/** Levels and scales through the stages, before any key exists (see {@link PlanStats.schedule}). */
function simulateSchedule(stages: readonly Stage[], bits: readonly number[], scaleBits: number) {
  let level = bits.length - 2;
  let scale = scaleBits;
  return stages.map((st, i) => {
    if (st.kind === 'square') {
      scale = 2 * scale - bits[level];
      level--;
    } else if (st.kind === 'extract') {
      scale = st.scaleBits;
      level--;
    } else if (st.kind !== 'save' && st.kind !== 'residual') level--;
    return { stage: i, kind: st.kind, level, scaleBits: scale };
  });
}

/** Folds y = a·u + b (elementwise, u the input) into M: M' = a·M, b' = b + b·M·1. */
function foldInput(map: AffineMap, a: number, b: number): AffineMap {
  const matrix = new Float64Array(map.matrix.length);
  const bias = Float64Array.from(map.bias);
  for (let i = 0; i < map.m; i++) {
    let rowSum = 0;
    for (let j = 0; j < map.n; j++) {
      const w = map.matrix[i * map.n + j];
      matrix[i * map.n + j] = a * w;
      rowSum += w;
    }
    bias[i] += b * rowSum;
  }
  return { ...map, matrix, bias };
}

function forcedPreset(name: string, depth: number, slots: number) {
  const p = getPreset(name);
  if (p.scheme !== 'ckks' || p.scaleBits === undefined || p.maxLevel < depth || p.slots < slots) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot plan with preset "${name}": needs CKKS with depth ≥ ${depth} and ≥ ${slots} slots (has depth ${p.maxLevel}, ${p.slots} slots)`,
    );
  }
  return { preset: name, literal: parametersToLiteral(p) };
}

function affineStage(p: { a: number; b: number }, period: number): Stage {
  return {
    kind: 'affine',
    period,
    scale: new Array<number>(period).fill(p.a),
    bias: new Array<number>(period).fill(p.b),
  };
}
