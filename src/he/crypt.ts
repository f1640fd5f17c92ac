import { HeError } from './errors.ts';
import { Ciphertext, Plaintext } from './handles.ts';
import type { EvaluationKeys, KeySet } from './keys.ts';

function sameContext(keys: EvaluationKeys, pt: Plaintext, op: string): void {
  if (keys.context.params.fingerprint !== pt.context.params.fingerprint) {
    throw new HeError(
      'HE_PRESET_MISMATCH',
      `cannot ${op}: keys and plaintext belong to different parameter sets`,
    );
  }
}

type SealEncryptor = InstanceType<EvaluationKeys['context']['_seal']['Encryptor']>;

/** Runs one encryption into a fresh ciphertext; SEAL objects are freed on every path. */
function encryptWith(
  keys: EvaluationKeys,
  secretKey: KeySet['_secretKey'] | undefined,
  pt: Plaintext,
  run: (enc: SealEncryptor, pt: Plaintext['_raw'], ct: Ciphertext['_raw']) => void,
  op = 'encrypt',
): Ciphertext {
  sameContext(keys, pt, op);
  const ctx = keys.context;
  const seal = ctx._seal;
  const enc =
    secretKey === undefined
      ? new seal.Encryptor(ctx._ctx, keys._publicKey)
      : new seal.Encryptor(ctx._ctx, keys._publicKey, secretKey);
  const ct = new seal.Ciphertext();
  try {
    ctx._call(op, () => run(enc, pt._raw, ct));
  } catch (e) {
    ct.delete();
    throw e;
  } finally {
    enc.delete();
  }
  return new Ciphertext(ctx, ct, pt.layout);
}

/** Encrypts with the public key (what a server uses, e.g. to re-randomize results). */
export function encryptPublic(keys: EvaluationKeys, pt: Plaintext): Ciphertext {
  return encryptWith(keys, undefined, pt, (enc, p, ct) => enc.encrypt(p, ct));
}

/**
 * @internal A server-side mask: a fresh public-key encryption of zero at the plaintext's level,
 * scaled to the plaintext's scale, plus the plaintext. Adding it to a result re-randomizes (c0, c1)
 * and adds the plaintext's content (uniform pads, flood noise).
 */
export function _encryptMask(keys: EvaluationKeys, pt: Plaintext, op: string): Ciphertext {
  const ctx = keys.context;
  const level = pt.level;
  const scale = pt.scale;
  return encryptWith(
    keys,
    undefined,
    pt,
    (enc, p, ct) => {
      enc.encryptZero(ct);
      if (level !== ctx.maxLevel) ctx._evaluator.cipherModSwitchToInplace(ct, ctx._parmsIdOf(level));
      ct.setScale(scale);
      ctx._evaluator.addPlainInplace(ct, p);
    },
    op,
  );
}

/** Encrypts with the secret key (smaller noise than public-key encryption). */
export function encryptSymmetric(keys: KeySet, pt: Plaintext): Ciphertext {
  return encryptWith(keys, keys._secretKey, pt, (enc, p, ct) => enc.encryptSymmetric(p, ct));
}

/**
 * Encrypts with the secret key straight to SEAL's seeded serialization: the second polynomial is
 * replaced by a 64-byte PRNG seed, halving upload size. Uncompressed, as servers require.
 */
export function encryptSymmetricSeeded(keys: KeySet, pt: Plaintext): Uint8Array {
  sameContext(keys, pt, 'encrypt');
  const ctx = keys.context;
  const seal = ctx._seal;
  const enc = new seal.Encryptor(ctx._ctx, keys._publicKey, keys._secretKey);
  try {
    const s = ctx._call('encrypt', () => enc.encryptSymmetricSerializable(pt._raw));
    try {
      return new Uint8Array(s.saveToArray(seal.ComprModeType.none) as Uint8Array);
    } finally {
      s.delete();
    }
  } finally {
    enc.delete();
  }
}

/** Decrypts to a plaintext carrying the ciphertext's layout, level and scale. */
export function decrypt(keys: KeySet, ct: Ciphertext): Plaintext {
  if (keys.context.params.fingerprint !== ct.context.params.fingerprint) {
    throw new HeError(
      'HE_PRESET_MISMATCH',
      'cannot decrypt: keys and ciphertext belong to different parameter sets',
    );
  }
  const ctx = keys.context;
  const seal = ctx._seal;
  const dec = new seal.Decryptor(ctx._ctx, keys._secretKey);
  const pt = new seal.Plaintext();
  try {
    ctx._call('decrypt', () => dec.decrypt(ct._raw, pt));
  } catch (e) {
    pt.delete();
    throw e;
  } finally {
    dec.delete();
  }
  return new Plaintext(ctx, pt, ct.layout);
}

/** Uncompressed SEAL bytes of a ciphertext (what a server returns). */
export function saveCiphertext(ct: Ciphertext): Uint8Array {
  const seal = ct.context._seal;
  return new Uint8Array(ct._raw.saveToArray(seal.ComprModeType.none) as Uint8Array);
}
