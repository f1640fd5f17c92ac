import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { testSplitModelDir } from '../../../../test/fixtures/split-model.ts';
import { parsePublicKey } from '../../../protocol/ed25519.ts';
import { verifyModelBundle } from '../../../protocol/model-bundle.ts';
import { parseSplitHeadLayout } from '../../../protocol/split-head-layout.ts';
import { main } from '../main.ts';

async function quiet(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  try {
    return { code: await main(argv), out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('blinddx bundle signs a split model into a bundle the service verifies; refuses bad arguments', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'blinddx-bundle-'));
  try {
    const key = join(dir, 'pub');
    assert.equal((await quiet(['sign', '--keygen', '--out', key])).code, 0);
    const out = join(dir, 'bundle');
    const r = await quiet([
      'bundle',
      '--model',
      await testSplitModelDir(),
      '--key',
      `${key}.key.json`,
      '--out',
      out,
      '--model-id',
      'my-model',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /model digest sha256:/);
    const trusted = [await parsePublicKey(JSON.parse(readFileSync(`${key}.pub.json`, 'utf8')))];
    const files = new Map(
      ['head.json', 'plan.json'].map((n) => [n, new Uint8Array(readFileSync(join(out, n)))]),
    );
    const v = await verifyModelBundle(
      {
        client: JSON.parse(readFileSync(join(out, 'client.json'), 'utf8')),
        server: JSON.parse(readFileSync(join(out, 'server.json'), 'utf8')),
      },
      trusted,
      files,
    );
    assert.equal(v.client.modelId, 'my-model');
    const layout = parseSplitHeadLayout(v.client);
    assert.equal(layout.backbone.file, 'backbone.onnx');
    // The client part never carries the weights' scale or the flood size.
    assert.equal('weightScaleBits' in layout.plan, false);
    assert.equal('floodBits' in layout.plan, false);
    assert.equal((await quiet(['bundle', '--model', out])).code, 2);
    const bad = await quiet([
      'bundle',
      '--model',
      join(dir, 'nope'),
      '--key',
      `${key}.key.json`,
      '--out',
      join(dir, 'x'),
    ]);
    assert.equal(bad.code, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
