import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ComputeQueue } from './compute-queue.ts';

test('runs at most `concurrency`, queues at most `maxQueued`, refuses beyond', async () => {
  const q = new ComputeQueue({ concurrency: 2, maxQueued: 1 });
  let running = 0;
  let peak = 0;
  const job = async () => {
    running++;
    peak = Math.max(peak, running);
    await sleep(30);
    running--;
    return 1;
  };
  const rs = [q.tryReserve(), q.tryReserve(), q.tryReserve()];
  assert.ok(rs.every((r) => r !== null));
  assert.equal(q.tryReserve(), null, 'fourth place refused');
  const done = Promise.all(rs.map((r) => r!.run(job, 1000)));
  assert.deepEqual(q.snapshot(), { active: 2, queued: 1 });
  const results = await done;
  assert.equal(peak, 2);
  assert.ok(results[2].queueMs >= 20, 'third job waited for a slot');
  assert.deepEqual(q.snapshot(), { active: 0, queued: 0 });
  await q.drained();
});

test('a timeout aborts the job, answers TIMEOUT, and keeps the slot until the job returns', async () => {
  const q = new ComputeQueue({ concurrency: 1, maxQueued: 1 });
  let aborted = false;
  const slow = q.tryReserve()!.run(async (signal) => {
    signal.addEventListener('abort', () => (aborted = true));
    await sleep(80);
    return 'late';
  }, 20);
  const queued = q.tryReserve()!.run(async () => 'never', 10);
  await assert.rejects(queued, (e: any) => e.code === 'TIMEOUT');
  await assert.rejects(slow, (e: any) => e.code === 'TIMEOUT');
  assert.ok(aborted);
  assert.deepEqual(q.snapshot(), { active: 1, queued: 0 }, 'slot held while the engine still works');
  await q.drained();
  assert.deepEqual(q.snapshot(), { active: 0, queued: 0 });
});

test('one failing job does not affect the others', async () => {
  const q = new ComputeQueue({ concurrency: 2, maxQueued: 2 });
  const out = await Promise.allSettled([
    q.tryReserve()!.run(async () => {
      throw new Error('boom');
    }, 1000),
    q.tryReserve()!.run(() => {
      throw new Error('sync boom');
    }, 1000),
    q.tryReserve()!.run(async () => 3, 1000),
  ]);
  assert.deepEqual(
    out.map((o) => o.status),
    ['rejected', 'rejected', 'fulfilled'],
  );
  const r = q.tryReserve()!;
  r.cancel();
  assert.throws(() => r.cancel(), /used once/);
  await q.drained();
});
