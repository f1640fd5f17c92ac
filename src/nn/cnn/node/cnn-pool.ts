import type { PublicMaterial } from '../../../he/keys.ts';
import { WorkerPool } from '../../../he/node/worker-pool.ts';
import { NnError } from '../../errors.ts';
import type { ClientPlan, ServerPlan } from '../plan.ts';
import type { handlers } from './cnn-pool-tasks.ts';

/**
 * Encrypted CNN inference on the he worker pool: each worker holds the plan, the client's keys and
 * the encoded weights; images run in parallel, one per worker. Close it with `await using`.
 *
 * @example
 * await using pool = await CnnPool.create(plan.server, plan.client, keys.exportPublic(), 2);
 * const outs = await Promise.all(inputs.map((ct) => pool.infer(ct)));
 */
export class CnnPool {
  readonly #pool: WorkerPool<typeof handlers>;
  readonly #id: string;

  private constructor(pool: WorkerPool<typeof handlers>, id: string) {
    this.#pool = pool;
    this.#id = id;
  }

  /** Starts `size` workers and sets the plan and keys up in every one of them. */
  static async create(
    server: ServerPlan,
    client: ClientPlan,
    material: PublicMaterial,
    size = 2,
  ): Promise<CnnPool> {
    const pool = new WorkerPool<typeof handlers>({
      handlers: new URL('./cnn-pool-tasks.ts', import.meta.url),
      size,
    });
    await pool.ready();
    const id = server.model;
    const setup = {
      id,
      plan: JSON.stringify(server),
      inputPeriod: client.input.period,
      publicKey: material.publicKey,
      ...(material.relinKeys ? { relinKeys: material.relinKeys } : {}),
      ...(material.galoisKeys ? { galoisKeys: material.galoisKeys } : {}),
    };
    // Right after ready() every worker is idle, so each takes one setup task.
    const ids = await Promise.all(
      Array.from({ length: size }, () => pool.run('cnn.setup', setup, { transfer: false })),
    );
    if (new Set(ids).size !== size) {
      await pool.close();
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        'cannot start the CNN pool: the setup did not reach every worker',
      );
    }
    return new CnnPool(pool, id);
  }

  /** Runs one inference on whichever worker is free. */
  infer(ct: Uint8Array): Promise<Uint8Array> {
    return this.#pool.run('cnn.infer', { id: this.#id, ct }, { transfer: false });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#pool.close();
  }
}
