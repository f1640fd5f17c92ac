// `npm start` with nothing configured: committed split models are signed at start with a demo
// publisher key kept in the data dir; the bundles load in the SEAL head engine; a restart reuses
// them; a model whose files change is re-signed; a removed model stops being served.
import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePublicKey } from '../../src/protocol/ed25519.ts';
import { prepareDemoModels } from '../../src/server/engines/demo-models.ts';
import { SealHeadEngine } from '../../src/server/engines/seal-head-engine.ts';
import { loadModelsDir } from '../../src/server/model-registry.ts';
import { testSplitModelDir } from '../fixtures/split-model.ts';

test('demo models: signed once with a data-dir key, loaded by the SEAL engine, refreshed on change', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'blinddx-demo-models-'));
  const engine = new SealHeadEngine({ workers: 1 });
  try {
    const source = join(dir, 'models');
    cpSync(await testSplitModelDir(), join(source, 'demo-a'), { recursive: true });
    mkdirSync(join(source, 'not-a-split-model'), { recursive: true });
    writeFileSync(join(source, 'not-a-split-model', 'model.json'), '{"format":"something-else"}');
    const dataDir = join(dir, 'data');
    const logs: string[] = [];
    const first = await prepareDemoModels({ sourceDir: source, dataDir, log: (m) => logs.push(m) });
    assert.deepEqual(first.models, ['demo-a']);
    assert.equal(logs.length, 1);
    assert.equal(statSync(join(dataDir, 'demo-publisher.key.json')).mode & 0o777, 0o600);
    const trusted = [await parsePublicKey(JSON.parse(readFileSync(first.trustedKeyFile, 'utf8')))];
    const registry = await loadModelsDir(first.modelsDir, trusted, engine);
    assert.deepEqual(
      registry.list().map((m) => m.modelId),
      ['demo-a'],
    );
    assert.equal(registry.get('demo-a')?.manifest.preset, 'ckks-8192-coeff');

    // Restart: same key, bundle reused (nothing re-signed).
    const again = await prepareDemoModels({ sourceDir: source, dataDir, log: (m) => logs.push(m) });
    assert.equal(logs.length, 1);
    assert.equal(again.trustedKeyFile, first.trustedKeyFile);
    assert.equal(readFileSync(first.trustedKeyFile, 'utf8').includes(trusted[0].kid), true);

    // A changed model is re-signed; a removed one is no longer served.
    const manifest = JSON.parse(readFileSync(join(source, 'demo-a', 'model.json'), 'utf8'));
    manifest.training = { ...manifest.training, note: 'retrained' };
    writeFileSync(join(source, 'demo-a', 'model.json'), JSON.stringify(manifest));
    await prepareDemoModels({ sourceDir: source, dataDir, log: (m) => logs.push(m) });
    assert.equal(logs.length, 2);
    rmSync(join(source, 'demo-a'), { recursive: true });
    const none = await prepareDemoModels({ sourceDir: source, dataDir });
    assert.deepEqual(none.models, []);
    assert.equal(existsSync(join(first.modelsDir, 'demo-a')), false);
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
