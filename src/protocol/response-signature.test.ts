import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256Digest } from './digest.ts';
import { generateSigningKey, publicPart } from './ed25519.ts';
import { signResponse, verifyResponse } from './response-signature.ts';

test('a response signature verifies, and fails if request, result, model or time change', async () => {
  const key = await generateSigningKey();
  const requestBody = new Uint8Array([1, 2, 3]);
  const responseBody = new Uint8Array([4, 5, 6]);
  const modelDigest = await sha256Digest(new Uint8Array([9]));
  const headers = await signResponse(
    {
      v: 1,
      modelId: 'm',
      clientId: 'c1',
      requestDigest: await sha256Digest(requestBody),
      modelDigest,
      resultDigest: await sha256Digest(responseBody),
      signedAt: 1_700_000_000_000,
    },
    key,
  );
  const base = {
    headers: new Headers(headers),
    requestBody,
    responseBody,
    modelId: 'm',
    clientId: 'c1',
    serverKeys: [publicPart(key)],
    expectedModelDigest: modelDigest,
  };
  const st = await verifyResponse(base);
  assert.equal(st.signedAt, 1_700_000_000_000);
  const fails = async (over: object, re: RegExp) =>
    assert.rejects(
      verifyResponse({ ...base, ...over }),
      (e: any) => e.code === 'RESPONSE_SIGNATURE_INVALID' && re.test(e.message),
    );
  await fails({ requestBody: new Uint8Array([1, 2]) }, /does not match/);
  await fails({ responseBody: new Uint8Array([4, 5]) }, /does not match/);
  await fails({ clientId: 'c2' }, /does not match/);
  await fails({ expectedModelDigest: await sha256Digest(new Uint8Array()) }, /expected/);
  await fails(
    { headers: new Headers({ ...headers, 'x-blinddx-signed-at': '1700000000001' }) },
    /does not match/,
  );
  await fails({ serverKeys: [publicPart(await generateSigningKey())] }, /unknown server key/);
});
