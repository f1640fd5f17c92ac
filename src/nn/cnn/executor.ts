import type { Stage } from './plan.ts';

/**
 * The slot operations a plan needs, over some value type T (a ciphertext, or a simulated slot
 * vector). One executor drives every backend, so the simulated and encrypted runs perform the
 * same operations in the same order. Every method returns a new value; the caller frees inputs.
 */
export interface SlotBackend<T> {
  /** Slots per ciphertext (N/2). */
  readonly slots: number;
  /** Left rotation by `step` slots. */
  rotate(x: T, step: number): T;
  /** x ⊙ values (values repeated with `period`), not rescaled; `key` names the plaintext for caching. */
  mulPlain(x: T, key: string, values: readonly number[], period: number): T;
  /** x + values at x's level and scale. */
  addPlain(x: T, key: string, values: readonly number[], period: number): T;
  add(a: T, b: T): T;
  /** x², relinearized, not rescaled. */
  square(x: T): T;
  rescale(x: T): T;
  /** A copy of x. */
  clone(x: T): T;
  /**
   * `saved` brought to `target`'s level and scale (for a residual add): a product by 1 encoded at
   * the scale ratio on `saved`'s level, a rescale, then a mod-switch down.
   */
  alignTo(saved: T, target: T): T;
  /** x ⊙ values (one full ring of slots, no repetition), rescaled to exactly `outScale`. */
  extract(x: T, key: string, values: Float64Array, outScale: number): T;
  free(x: T): void;
}

const _masks = new WeakMap<object, Map<string, Float64Array>>();

/** 1 at `positions` (first period only), 0 on every other slot of the ring. */
function extractMask<T>(be: SlotBackend<T>, positions: readonly number[]): Float64Array {
  const slots = be.slots;
  let m = _masks.get(be);
  if (m === undefined) _masks.set(be, (m = new Map()));
  const key = positions.join();
  let v = m.get(key);
  if (v === undefined) {
    v = new Float64Array(slots);
    for (const p of positions) v[p] = 1;
    m.set(key, v);
  }
  return v;
}

/** Counts of operations run, for reports. */
export interface OpCounts {
  rotations: number;
  plainMultiplications: number;
  squares: number;
  rescales: number;
}

/**
 * Runs a plan's stages on one input. `counts`, when given, is incremented.
 *
 * @example
 * const out = runStages(backend, serverPlan.stages, ct);
 */
export function runStages<T>(be: SlotBackend<T>, stages: readonly Stage[], input: T, counts?: OpCounts): T {
  const c = counts ?? { rotations: 0, plainMultiplications: 0, squares: 0, rescales: 0 };
  const rot = (x: T, s: number) => {
    c.rotations++;
    return be.rotate(x, s);
  };
  const mul = (x: T, key: string, v: readonly number[], p: number) => {
    c.plainMultiplications++;
    return be.mulPlain(x, key, v, p);
  };
  const rescale = (x: T) => {
    c.rescales++;
    return be.rescale(x);
  };
  const accumulate = (acc: T | undefined, v: T): T => {
    if (acc === undefined) return v;
    const s = be.add(acc, v);
    be.free(acc);
    be.free(v);
    return s;
  };
  const tree = (y: T, steps: readonly number[]): T => {
    for (const step of steps) {
      const r = rot(y, step);
      const s = be.add(y, r);
      be.free(r);
      be.free(y);
      y = s;
    }
    return y;
  };
  let x = input;
  let owned = false; // the caller owns `input`
  const registers = new Map<number, T>();
  stages.forEach((st, si) => {
    let y: T;
    if (st.kind === 'save') {
      registers.set(st.register, be.clone(x));
      return;
    }
    switch (st.kind) {
      case 'residual': {
        const aligned = be.alignTo(registers.get(st.register)!, x);
        y = be.add(x, aligned);
        be.free(aligned);
        break;
      }
      case 'im2col-conv': {
        // Rotations chain (x_r = rot(x_{r−1}, step)): same count, one Galois key per distinct step.
        let acc: T | undefined;
        let prev = x;
        let prevShift = 0;
        st.weights.forEach((w, r) => {
          const shift = r === 0 ? 0 : st.rotations[r - 1];
          const xr = r === 0 ? x : rot(prev, shift - prevShift);
          if (prev !== x) be.free(prev);
          prev = xr;
          prevShift = shift;
          acc = accumulate(acc, mul(xr, `${si}.w${r}`, w, st.period));
        });
        if (prev !== x) be.free(prev);
        const r = rescale(acc!);
        be.free(acc!);
        y = tree(r, st.reduceSteps);
        const withBias = be.addPlain(y, `${si}.bias`, st.bias, st.outPeriod);
        be.free(y);
        y = withBias;
        break;
      }
      case 'linear': {
        // Baby steps chain from x (rot by the gap to the previous baby); giant steps run in Horner
        // form, acc = rot(acc, gap)+inner, from the largest giant down. Same rotation count as
        // independent rotations, but the Galois keys are only the distinct gaps (often just 1 and B).
        const babies = new Map<number, T>();
        let prevBaby = 0;
        for (const b of st.babySteps) {
          babies.set(b, b === 0 ? x : rot(babies.get(prevBaby) ?? x, b - prevBaby));
          prevBaby = b;
        }
        let acc: T | undefined;
        let accStep = 0;
        for (let gi = st.giants.length - 1; gi >= 0; gi--) {
          const g = st.giants[gi];
          let inner: T | undefined;
          g.terms.forEach((term, ti) => {
            inner = accumulate(
              inner,
              mul(babies.get(term.baby)!, `${si}.g${gi}.${ti}`, term.values, st.period),
            );
          });
          if (acc !== undefined) {
            const r = rot(acc, accStep - g.step);
            be.free(acc);
            acc = r;
          }
          acc = accumulate(acc, inner!);
          accStep = g.step;
        }
        if (accStep !== 0) {
          const r = rot(acc!, accStep);
          be.free(acc!);
          acc = r;
        }
        for (const [b, v] of babies) if (b !== 0) be.free(v);
        const r = rescale(acc!);
        be.free(acc!);
        y = tree(r, st.reduceSteps);
        const withBias = be.addPlain(y, `${si}.bias`, st.bias, st.outPeriod);
        be.free(y);
        y = withBias;
        break;
      }
      case 'square': {
        let u = x;
        if (st.shift !== 0) u = be.addPlain(x, `${si}.shift`, [st.shift], 1);
        c.squares++;
        const sq = be.square(u);
        if (u !== x) be.free(u);
        y = rescale(sq);
        be.free(sq);
        break;
      }
      case 'extract': {
        c.plainMultiplications++;
        c.rescales++;
        y = be.extract(x, `${si}.extract`, extractMask(be, st.positions), 2 ** st.scaleBits);
        break;
      }
      case 'affine': {
        const p = mul(x, `${si}.scale`, st.scale, st.period);
        const r = rescale(p);
        be.free(p);
        y = be.addPlain(r, `${si}.bias`, st.bias, st.period);
        be.free(r);
        break;
      }
    }
    if (owned) be.free(x);
    x = y;
    owned = true;
  });
  for (const r of registers.values()) be.free(r);
  return owned ? x : be.clone(x);
}
