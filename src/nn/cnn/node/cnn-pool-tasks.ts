// Worker-side task kinds for running encrypted CNN plans in the he worker pool: one image per task,
// so two workers serve two images at once. A worker loads the server plan and the client's
// evaluation keys once (`cnn.setup`, hardened loading) and keeps its encoded weights between tasks.

import { HeContext } from '../../../he/context.ts';
import { saveCiphertext } from '../../../he/crypt.ts';
import { HeError } from '../../../he/errors.ts';
import { loadCiphertext, loadEvaluationKeys } from '../../../he/hardened-load.ts';
import { defineHandlers, type WorkerEnv } from '../../../he/node/pool-protocol.ts';
import { EncryptedCnn } from '../encrypted-executor.ts';
import { loadServerPlan, type ServerPlan } from '../plan.ts';

interface Loaded {
  readonly ctx: HeContext;
  readonly cnn: EncryptedCnn;
  readonly plan: ServerPlan;
  readonly period: number;
}

/** Task kinds of the CNN pool. */
export const handlers = defineHandlers({
  /** Loads a server plan and the client's public evaluation material into this worker. */
  'cnn.setup': async (
    p: {
      id: string;
      plan: string;
      inputPeriod: number;
      publicKey: Uint8Array;
      relinKeys?: Uint8Array;
      galoisKeys?: Uint8Array;
    },
    env: WorkerEnv,
  ) => {
    const plan = loadServerPlan(JSON.parse(p.plan));
    const ctx = await HeContext.create(plan.params);
    const keys = loadEvaluationKeys(
      ctx,
      {
        publicKey: p.publicKey,
        ...(p.relinKeys ? { relinKeys: p.relinKeys } : {}),
        ...(p.galoisKeys ? { galoisKeys: p.galoisKeys } : {}),
      },
      { relin: plan.relin, galoisSteps: plan.galoisSteps },
    );
    env.state.set(p.id, {
      ctx,
      cnn: new EncryptedCnn(ctx, keys, plan),
      plan,
      period: p.inputPeriod,
    } satisfies Loaded);
    return env.workerId;
  },
  /** One encrypted inference: input ciphertext bytes in, result ciphertext bytes out. */
  'cnn.infer': (p: { id: string; ct: Uint8Array }, env: WorkerEnv) => {
    const loaded = env.state.get(p.id) as Loaded | undefined;
    if (loaded === undefined)
      throw new HeError('HE_INVALID_ARGUMENT', `cannot infer: plan "${p.id}" is not set up in this worker`);
    const layout = { kind: 'slots', length: loaded.period, period: loaded.period } as const;
    using ct = loadCiphertext(loaded.ctx, p.ct, { layout, level: loaded.ctx.maxLevel });
    using out = loaded.cnn.infer(ct);
    return saveCiphertext(out);
  },
});
