// Roles kept apart: the client holds the secret key; the server, in another thread with its own
// SEAL instance, is given nothing but the public context bytes and the vector bytes.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { _ckksTolerance, _maxAbsError } from '../src/he/_tolerance.ts';
import { matVecPlain } from '../src/he/linear-transform.ts';
import { polynomialPlain } from '../src/he/polynomial.ts';
import { EncryptedVector, VectorContext } from '../src/he/vector.ts';

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

test('client → server (public context only, separate thread) → client', async () => {
  const x = [0.5, -0.25, 0.8, -0.6, 0.1, 0.3];
  const weights = [0.2, -0.4, 0.1, 0.3, -0.5, 0.25];
  const coefficients = [0.5, 0.197, 0, -0.004];
  const matrix = { rows: 3, cols: 6, data: [1, 0, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, -1, 0.5, 0, 0.5, 0, 0] };

  // Client.
  using client = await VectorContext.create('ckks-8192-d3', {
    maxLength: 8,
    multiply: true,
    sum: true,
    matrices: [matrix],
  });
  const publicContext = client.exportPublic();
  using input = client.encrypt(x);
  const vector = input.serialize();

  // The public bytes carry no part of the secret key: no 64-byte window of its coefficient data
  // (taken well inside the key, past SEAL's headers) appears in them.
  const secret = client._secretKeys('test').exportSecretKey();
  for (const at of [200, secret.length >> 1, secret.length - 100])
    assert.equal(contains(publicContext, secret.subarray(at, at + 64)), false, `window at ${at}`);

  // Server, in its own worker thread.
  const worker = new Worker(new URL('./fixtures/vector-server.ts', import.meta.url));
  try {
    worker.postMessage({ publicContext, vector, weights, coefficients, matrix });
    const [reply] = await once(worker, 'message');
    assert.equal(reply.error, undefined, reply.error);
    assert.equal(reply.hasSecretKey, false);
    assert.equal(reply.decryptError, 'HE_MISSING_SECRET_KEY');

    // Client again: results come back as 'result' envelopes and decrypt to the float64 twins.
    const n = client.params.polyModulusDegree;
    const delta = 2 ** client.params.scaleBits!;
    using score = EncryptedVector.deserialize(client, reply.score);
    using act = EncryptedVector.deserialize(client, reply.act);
    using y = EncryptedVector.deserialize(client, reply.y);
    using fresh = EncryptedVector.deserialize(client, reply.fresh);
    const twinScore = x.reduce((a, v, i) => a + v * weights[i], 0);
    assert.ok(Math.abs(score.decrypt()[0] - twinScore) <= _ckksTolerance(n, delta, 'rotate', x.length));
    const twinAct = x.map((v) => polynomialPlain(coefficients, v));
    assert.ok(_maxAbsError(act.decrypt(), twinAct) <= 3 * _ckksTolerance(n, delta, 'multiply', 1));
    assert.ok(
      _maxAbsError(y.decrypt(), [...matVecPlain(matrix, x)]) <= _ckksTolerance(n, delta, 'rotate', 6),
    );
    // Public-key encryption on the server is noisier than symmetric, still within the fresh bound.
    assert.ok(_maxAbsError(fresh.decrypt(), [1, 2, 3]) <= _ckksTolerance(n, delta, 'fresh', 3));
  } finally {
    await worker.terminate();
  }
});
