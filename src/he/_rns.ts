// Integer ↔ RNS conversions for coefficient encoding. The hot loops work on 32-bit halves so no
// BigInt is allocated per coefficient (primes go up to 60 bits, beyond a double's 53).
import type { LevelInfo } from './context.ts';

const TWO32 = 2 ** 32;

/** Reduces integers (doubles that are exact integers) into prime-major RNS rows. */
export function _toRns(values: ArrayLike<number>, n: number, info: LevelInfo): BigUint64Array {
  const l = info.primes.length;
  const out = new BigUint64Array(n * l);
  const words = new Uint32Array(out.buffer); // little-endian: [lo, hi] per u64
  for (let j = 0; j < l; j++) {
    const q = info.primes[j];
    const qNum = Number(q);
    const qHi = Number(q >> 32n);
    const qLo = Number(q & 0xffffffffn);
    const base = j * n;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === 0) continue;
      const a = Math.abs(v);
      if (a >= 2 ** 53 || a >= qNum) {
        // Rare: magnitudes beyond 2^53 or the prime; exact BigInt path.
        let r = BigInt(v) % q;
        if (r < 0n) r += q;
        out[base + i] = r;
        continue;
      }
      let hi = Math.floor(a / TWO32);
      let lo = a - hi * TWO32;
      if (v < 0) {
        // q − |v| on 32-bit halves with borrow.
        let nlo = qLo - lo;
        let borrow = 0;
        if (nlo < 0) {
          nlo += TWO32;
          borrow = 1;
        }
        hi = qHi - hi - borrow;
        lo = nlo;
      }
      words[2 * (base + i)] = lo;
      words[2 * (base + i) + 1] = hi;
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
  const words = new Uint32Array(out.buffer);
  const buf = new Uint32Array(2 * n);
  const bytes = new Uint8Array(buf.buffer);
  for (let j = 0; j < l; j++) {
    const q = info.primes[j];
    const bits = q.toString(2).length;
    // Draw `bits`-bit values and reject those ≥ q: exactly uniform, and q > 2^(bits−1) so at most
    // half are rejected. Comparisons use the 32-bit halves; only a tie on the high half needs BigInt.
    const hiMask = bits > 32 ? 2 ** (bits - 32) - 1 : 0;
    const loMask = bits >= 32 ? 0xffffffff : 2 ** bits - 1;
    const qHi = Number(q >> 32n);
    let filled = 0;
    while (filled < n) {
      for (let off = 0; off < bytes.length; off += 65536)
        fill(bytes.subarray(off, Math.min(off + 65536, bytes.length)));
      for (let i = 0; i < n && filled < n; i++) {
        const lo = (buf[2 * i] & loMask) >>> 0;
        const hi = buf[2 * i + 1] & hiMask;
        if (hi > qHi) continue;
        if (hi === qHi && ((BigInt(hi) << 32n) | BigInt(lo)) >= q) continue;
        const at = j * n + filled++;
        words[2 * at] = lo;
        words[2 * at + 1] = hi;
      }
    }
  }
  return out;
}
