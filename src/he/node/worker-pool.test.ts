import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { handlers } from '../../../test/fixtures/pool-handlers.ts';
import { HeContext } from '../context.ts';
import { decrypt, encryptSymmetric, saveCiphertext } from '../crypt.ts';
import { decodeSlots, encodeSlots } from '../encoder.ts';
import { HeError, isHeError } from '../errors.ts';
import { Ciphertext } from '../handles.ts';
import { generateKeys, type KeySet } from '../keys.ts';
import { PoolBusyError, TaskError, WorkerPool } from './worker-pool.ts';

const fixtures = new URL('../../../test/fixtures/pool-handlers.ts', import.meta.url);
type H = typeof handlers;
const PRESET = 'ckks-4096-d1';
const LENGTH = 8;
// Square then rescale at scale 2^32 leaves ~2^-20 precision; rotation adds key-switching noise.
const TOLERANCE = 1e-3;

function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  return assert.rejects(p, (e: unknown) => {
    assert.ok(isHeError(e), `expected HeError ${code}, got ${String(e)}`);
    assert.equal(e.code, code);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('WorkerPool', () => {
  let pool: WorkerPool<H>;
  let ctx: HeContext;
  let keys: KeySet;
  let material: ReturnType<KeySet['exportPublic']>;

  before(async () => {
    pool = new WorkerPool<H>({ handlers: fixtures, size: 2 });
    ctx = await HeContext.create(PRESET);
    keys = generateKeys(ctx, { relin: true, galoisSteps: [1] });
    material = keys.exportPublic();
    await pool.ready();
  });
  after(async () => {
    await pool.close();
    keys[Symbol.dispose]();
    ctx[Symbol.dispose]();
  });

  /** Client side: encrypt, ship bytes, decrypt the worker's answer, compare with the twin. */
  async function squareRotate(values: number[], step: number): Promise<number> {
    using pt = encodeSlots(ctx, values);
    using ct = encryptSymmetric(keys, pt);
    const bytes = saveCiphertext(ct);
    const out = await pool.run(
      'square-rotate',
      {
        preset: PRESET,
        ct: bytes,
        publicKey: material.publicKey,
        relinKeys: material.relinKeys!,
        galoisKeys: material.galoisKeys!,
        galoisSteps: material.galoisSteps,
        step,
        length: LENGTH,
        period: LENGTH,
      },
      { transfer: false, timeoutMs: 20_000 },
    );
    const seal = ctx._seal;
    const raw = new seal.Ciphertext();
    raw.loadFromArray(ctx._ctx, out);
    using res = new Ciphertext(ctx, raw, { kind: 'slots', length: LENGTH, period: LENGTH });
    assert.equal(res.level, 0);
    using dec = decrypt(keys, res);
    const got = decodeSlots(dec);
    let maxErr = 0;
    for (let i = 0; i < LENGTH; i++) {
      const twin = values[(i + step) % LENGTH] ** 2;
      maxErr = Math.max(maxErr, Math.abs(got[i] - twin));
    }
    assert.ok(maxErr < TOLERANCE, `max error ${maxErr} ≥ ${TOLERANCE}`);
    return maxErr;
  }

  test('squares and rotates a real ciphertext in workers, matching the plaintext twin', async () => {
    const inputs = Array.from({ length: 6 }, (_, k) =>
      Array.from({ length: LENGTH }, (_, i) => Math.sin(1 + k * LENGTH + i)),
    );
    const errs = await Promise.all(inputs.map((v) => squareRotate(v, 1)));
    assert.ok(Math.max(...errs) > 0); // sanity: CKKS is approximate
    assert.equal(pool.stats().completed, 6);
    assert.equal(pool.stats().failed, 0);
  });

  test('worker-side handlers free their SEAL objects: worker heaps stay flat over many tasks', async () => {
    const heaps = () => pool.stats().wasmHeapBytes;
    const batch = (n: number) =>
      Promise.all(
        Array.from({ length: n }, (_, k) => squareRotate([k / 10, 0.5, -0.5, 0, 0, 0, 0, 0.25], 1)),
      );
    await batch(4);
    const warm = heaps();
    await batch(40);
    assert.deepEqual(heaps(), warm);
  });

  test('transfers input bytes by default and returns transferred bytes', async () => {
    const input = new Uint8Array([1, 2, 3, 4]);
    const out = await pool.run('echo', input);
    assert.equal(input.byteLength, 0, 'the caller’s array was moved to the worker');
    assert.deepEqual([...out], [1, 2, 3, 4]);
    const kept = new Uint8Array([5, 6]);
    await pool.run('echo', kept, { transfer: false });
    assert.equal(kept.byteLength, 2);
  });

  test('each worker has its own SEAL instance; both workers take tasks', async () => {
    const ids = await Promise.all(
      Array.from({ length: 4 }, () =>
        pool.run('whoami', PRESET).then(async (r) => {
          await pool.run('sleep', 20);
          return r.workerId;
        }),
      ),
    );
    assert.deepEqual([...new Set(ids)].sort(), [0, 1]);
    const heap = pool.stats().wasmHeapBytes;
    assert.equal(heap.length, 2);
    for (const h of heap) assert.ok(typeof h === 'number' && h > 0, 'worker heap gauge reported');
  });

  test('the main event loop stays responsive while a worker computes', async () => {
    let timerFiredFirst = false;
    const task = pool.run('burn', 400).then(() => !timerFiredFirst);
    await new Promise((r) => setTimeout(r, 10));
    timerFiredFirst = true;
    assert.equal(await task, false, 'a 10 ms timer fired while the worker burned 400 ms of CPU');
  });

  test('an HeError thrown by a handler keeps its code and message; other errors keep name and code', async () => {
    await rejectsWith(
      pool.run('he-error', null),
      'HE_BAD_SCALE',
      /^cannot load ciphertext: scale is not finite$/,
    );
    await assert.rejects(pool.run('coded-error', null), (e: unknown) => {
      assert.ok(e instanceof TaskError);
      assert.equal(e.name, 'BlindDxError');
      assert.equal(e.code, 'BAD_CIPHERTEXT');
      assert.equal(e.message, 'ciphertext rejected');
      return true;
    });
    await rejectsWith(
      pool.run('nope' as 'echo', new Uint8Array(1)),
      'HE_INVALID_ARGUMENT',
      /no such task kind/,
    );
  });

  test('a worker that exits is replaced; its task fails HE_WORKER_CRASHED, others continue', async () => {
    const before = pool.stats().restarts;
    const other = pool.run('sleep', 300);
    await rejectsWith(pool.run('exit', null), 'HE_WORKER_CRASHED', /worker \d died/);
    assert.equal(await other, 300, 'the task on the other worker was not disturbed');
    assert.deepEqual(await pool.run('whoami', PRESET).then((r) => typeof r.workerId), 'number');
    assert.equal(pool.stats().restarts - before, 1);
    await rejectsWith(pool.run('uncaught', null), 'HE_WORKER_CRASHED', /uncaught in handler/);
    await squareRotate([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], 1);
    assert.equal(pool.stats().restarts - before, 2);
    assert.ok(pool.stats().crashes >= 2);
  });

  test('a WebAssembly out-of-memory (std::bad_alloc) retires the worker', async () => {
    const before = pool.stats().restarts;
    await rejectsWith(pool.run('oom', null, { timeoutMs: 20_000 }), 'HE_WORKER_CRASHED', /bad_alloc/);
    await squareRotate([1, -1, 0.5, -0.5, 0.25, 0, 0, 0], 1);
    assert.equal(pool.stats().restarts - before, 1);
  });

  test('a task over its time limit is killed with its worker: HE_WORKER_TIMEOUT', async () => {
    const before = pool.stats();
    const t0 = performance.now();
    await rejectsWith(pool.run('spin', null, { timeoutMs: 300 }), 'HE_WORKER_TIMEOUT', /300 ms/);
    assert.ok(performance.now() - t0 < 5_000);
    assert.equal(await pool.run('sleep', 1), 1);
    const now = pool.stats();
    assert.equal(now.timeouts - before.timeouts, 1);
    assert.equal(now.restarts - before.restarts, 1);
  });

  test('an aborted task is removed from the queue or abandoned', async () => {
    await pool.ready(); // a worker replaced by an earlier test may still be starting
    const busy = [pool.run('sleep', 200), pool.run('sleep', 200)];
    const ac = new AbortController();
    const queued = pool.run('sleep', 5, { signal: ac.signal });
    assert.equal(pool.stats().queued, 1);
    ac.abort(new Error('client went away'));
    await assert.rejects(queued, /client went away/);
    assert.equal(pool.stats().queued, 0);
    await Promise.all(busy);
    const ac2 = new AbortController();
    const running = pool.run('sleep', 100, { signal: ac2.signal });
    ac2.abort();
    await assert.rejects(running, { name: 'AbortError' });
    await assert.rejects(pool.run('sleep', 1, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  });
});

test('a full queue refuses at once with HE_POOL_BUSY (backpressure); close drains, then refuses', async () => {
  const pool = new WorkerPool<H>({ handlers: fixtures, size: 1, maxQueued: 2 });
  await pool.ready();
  const accepted = [pool.run('sleep', 150), pool.run('sleep', 10), pool.run('sleep', 10)];
  const refused = pool.run('sleep', 10);
  await rejectsWith(refused, 'HE_POOL_BUSY', /queue is full \(2 waiting\)/);
  await assert.rejects(refused, PoolBusyError);
  assert.equal(pool.stats().rejected, 1);
  assert.equal(pool.stats().queued, 2);
  const closing = pool.close();
  await rejectsWith(pool.run('sleep', 1), 'HE_POOL_CLOSED');
  assert.deepEqual(await Promise.all(accepted), [150, 10, 10], 'accepted tasks drained');
  await closing;
  assert.equal(pool.stats().completed, 3);
});

test('close({ drain: false }) fails queued and running tasks with HE_POOL_CLOSED', async () => {
  const pool = new WorkerPool<H>({ handlers: fixtures, size: 1 });
  const running = pool.run('sleep', 10_000);
  const queued = pool.run('sleep', 1);
  await pool.ready();
  const checks = [rejectsWith(running, 'HE_POOL_CLOSED'), rejectsWith(queued, 'HE_POOL_CLOSED')];
  await pool.close({ drain: false });
  await Promise.all(checks);
});

test('a handler module that cannot load makes ready() and run() fail instead of restarting forever', async () => {
  const pool = new WorkerPool({
    handlers: new URL('../../../test/fixtures/pool-handlers-broken.ts', import.meta.url),
    size: 1,
  });
  const queued = pool.run('anything', null);
  await rejectsWith(pool.ready(), 'HE_WORKER_CRASHED', /broken on purpose/);
  await rejectsWith(queued, 'HE_WORKER_CRASHED');
  assert.equal(pool.stats().restarts, 2, 'gave up after 3 failed starts');
  await pool.close();
});

test('options are validated', () => {
  assert.throws(() => new WorkerPool({ handlers: fixtures, size: 0 }), HeError);
  assert.throws(() => new WorkerPool({ handlers: 'relative/path.ts' }), /absolute path/);
  assert.throws(() => new WorkerPool({ handlers: [] }), /names no module/);
});

test('parallel sanity: the same batch on 1 and 2 workers (timing logged, not asserted)', async () => {
  const batch = 16;
  const rate = async (size: number) => {
    await using pool = new WorkerPool<H>({ handlers: fixtures, size });
    await pool.ready();
    const t0 = performance.now();
    // CPU-bound tasks (each spins 25 ms), then who ran them.
    await Promise.all(Array.from({ length: batch }, () => pool.run('burn', 25)));
    const perSec = batch / ((performance.now() - t0) / 1000);
    const ids = await Promise.all(
      Array.from({ length: 2 * size }, () => pool.run('whoami', PRESET).then((r) => r.workerId)),
    );
    return { perSec, workers: new Set(ids).size };
  };
  const one = await rate(1);
  const two = await rate(2);
  assert.equal(one.workers, 1);
  assert.equal(two.workers, 2);
  console.log(
    `# pool: 1 worker ${one.perSec.toFixed(0)} tasks/s, 2 workers ${two.perSec.toFixed(0)} tasks/s`,
  );
});

test('a task pinned to a worker slot runs there only, and waits for it while the other is idle', async () => {
  await using pool = new WorkerPool<H>({ handlers: fixtures, size: 2 });
  await pool.ready();
  const ids = await Promise.all(
    [0, 1, 0, 1, 1, 0].map((w) => pool.run('whoami', PRESET, { worker: w }).then((r) => r.workerId)),
  );
  assert.deepEqual(ids, [0, 1, 0, 1, 1, 0]);
  // Slot 0 busy: a task pinned to it queues behind, although slot 1 is idle.
  const busy = pool.run('sleep', 150, { worker: 0 });
  const t0 = performance.now();
  const pinned = await pool.run('whoami', PRESET, { worker: 0 });
  assert.equal(pinned.workerId, 0);
  assert.ok(performance.now() - t0 >= 100, 'waited for its own slot');
  await busy;
  await rejectsWith(pool.run('whoami', PRESET, { worker: 2 }), 'HE_INVALID_ARGUMENT', /slot in \[0, 1\]/);
});
