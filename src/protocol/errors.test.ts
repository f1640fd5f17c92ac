import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlindDxError, ERROR_STATUS, isErrorCode } from './errors.ts';

// Codes are a published contract: changing a status breaks clients, so the table is pinned here.
test('error catalog maps each stable code to its HTTP status', () => {
  assert.deepEqual(
    { ...ERROR_STATUS },
    {
      BAD_REQUEST: 400,
      UNAUTHORIZED: 401,
      FORBIDDEN_CLIENT: 403,
      NOT_FOUND: 404,
      IDEMPOTENCY_CONFLICT: 409,
      IDEMPOTENCY_IN_PROGRESS: 409,
      PAYLOAD_TOO_LARGE: 413,
      UNSUPPORTED_MEDIA_TYPE: 415,
      BAD_CIPHERTEXT: 422,
      BAD_KEY_MATERIAL: 422,
      WRONG_MODEL_KIND: 422,
      QUOTA_EXCEEDED: 429,
      INTERNAL: 500,
      MODEL_SIGNATURE_INVALID: 500,
      MODEL_BUNDLE_MISMATCH: 500,
      RESPONSE_SIGNATURE_INVALID: 502,
      CONFIG_INVALID: 500,
      QUEUE_FULL: 503,
      NOT_READY: 503,
      TIMEOUT: 504,
    },
  );
  assert.ok(Object.isFrozen(ERROR_STATUS));
  const e = new BlindDxError('QUOTA_EXCEEDED', 'infer: quota', { retryAfterSeconds: 7 });
  assert.equal(e.status, 429);
  assert.equal(e.retryAfterSeconds, 7);
  assert.ok(isErrorCode('TIMEOUT'));
  assert.ok(!isErrorCode('toString'));
});
