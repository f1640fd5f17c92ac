// Integer ↔ RNS conversions for coefficient encoding. BigInt is used only where the primes exceed
// 2^53; callers convert O(N·L) values per plaintext, which costs a few milliseconds.
import type { LevelInfo } from './context.ts';

/** Reduces integers (given as doubles that are exact integers, or bigints) into prime-major RNS rows. */
export function _toRns(values: ArrayLike<number>, n: number, info: LevelInfo): BigUint64Array {
  const l = info.primes.length;
  const out = new BigUint64Array(n * l);
  for (let j = 0; j < l; j++) {
    const q = info.primes[j];
    const base = j * n;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === 0) continue;
      let r = BigInt(v) % q;
      if (r < 0n) r += q;
      out[base + i] = r;
    }
  }
  return out;
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % m) + m) % m;
}

/** CRT constants of one level, computed once per level and reused. */
export interface _CrtBasis {
  readonly modulus: bigint;
  readonly half: bigint;
  readonly terms: readonly bigint[];
}

const bases = new WeakMap<LevelInfo, _CrtBasis>();

export function _crtBasis(info: LevelInfo): _CrtBasis {
  let b = bases.get(info);
  if (b === undefined) {
    const modulus = info.primes.reduce((a, q) => a * q, 1n);
    const terms = info.primes.map((q) => {
      const m = modulus / q;
      return (m * modInverse(m % q, q)) % modulus;
    });
    b = { modulus, half: modulus / 2n, terms };
    bases.set(info, b);
  }
  return b;
}

/** Reconstructs the centered integer at coefficient `i` from prime-major RNS rows. */
export function _fromRns(data: BigUint64Array, n: number, i: number, basis: _CrtBasis): bigint {
  let acc = 0n;
  for (let j = 0; j < basis.terms.length; j++) acc += data[j * n + i] * basis.terms[j];
  acc %= basis.modulus;
  return acc > basis.half ? acc - basis.modulus : acc;
}

/** Uniformly random residues (independent per prime = uniform mod Q by CRT) from a CSPRNG. */
export function _randomRns(n: number, info: LevelInfo, fill: (b: Uint8Array) => void): BigUint64Array {
  const l = info.primes.length;
  const out = new BigUint64Array(n * l);
  const buf = new BigUint64Array(n);
  const bytes = new Uint8Array(buf.buffer);
  for (let j = 0; j < l; j++) {
    const q = info.primes[j];
    // Rejection sampling keeps residues exactly uniform: draw below the largest multiple of q ≤ 2^64.
    const limit = (1n << 64n) - ((1n << 64n) % q);
    let filled = 0;
    while (filled < n) {
      for (let off = 0; off < bytes.length; off += 65536)
        fill(bytes.subarray(off, Math.min(off + 65536, bytes.length)));
      for (let i = 0; i < n && filled < n; i++) if (buf[i] < limit) out[j * n + filled++] = buf[i] % q;
    }
  }
  return out;
}
