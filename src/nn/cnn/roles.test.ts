import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tinyConvSquare } from '../../../test/fixtures/cnn-models.ts';
import { HeContext } from '../../he/context.ts';
import { saveCiphertext } from '../../he/crypt.ts';
import { loadCiphertext, loadEvaluationKeys } from '../../he/hardened-load.ts';
import { generateKeys } from '../../he/keys.ts';
import { decryptOutput, encryptInputSeeded } from './client.ts';
import { EncryptedCnn } from './encrypted-executor.ts';
import { loadClientPlan, loadServerPlan } from './plan.ts';
import { planCnn } from './planner.ts';
import { preprocessImage, referenceForward } from './reference.ts';

// Each role gets only its own artifact (as JSON text) and its own context; bytes cross between them.
test('client and server each run from their own plan artifact; only bytes cross', async () => {
  const model = tinyConvSquare('roles', { scale: 1 / 255, mean: [0.5], std: [0.25] });
  const plan = planCnn(model);
  const clientJson = JSON.stringify(plan.client);
  const serverJson = JSON.stringify(plan.server);
  const pixels = Array.from({ length: 36 }, (_, i) => (i * 29) % 256);

  // Client: keys for exactly the plan's steps; upload = public material + seeded ciphertext.
  const client = loadClientPlan(JSON.parse(clientJson));
  using cctx = await HeContext.create(client.params);
  using keys = generateKeys(cctx, { relin: client.relin, galoisSteps: client.galoisSteps });
  const upload = keys.exportPublic();
  const ctBytes = encryptInputSeeded(cctx, keys, client, pixels);

  // Server: its own context; refuses keys beyond the plan's; loads the ciphertext defensively.
  const server = loadServerPlan(JSON.parse(serverJson));
  using sctx = await HeContext.create(server.params);
  using ek = loadEvaluationKeys(sctx, upload, { relin: server.relin, galoisSteps: server.galoisSteps });
  const layout = { kind: 'slots', length: client.input.period, period: client.input.period } as const;
  using ct = loadCiphertext(sctx, ctBytes, { layout, level: sctx.maxLevel });
  using cnn = new EncryptedCnn(sctx, ek, server);
  using out = cnn.infer(ct);
  const down = saveCiphertext(out);

  // Client: decrypts the returned bytes.
  using back = loadCiphertext(cctx, down, { layout, level: 0 });
  const logits = decryptOutput(keys, client, back);
  const want = referenceForward(model, preprocessImage(model, pixels));
  want.forEach((w, i) => {
    // Protected plan (the default): the response is flooded with σ = 2^−9 per slot.
    assert.ok(Math.abs(logits[i] - w) < 2e-2 * Math.max(1, Math.abs(w)), `output ${i}`);
  });
});
