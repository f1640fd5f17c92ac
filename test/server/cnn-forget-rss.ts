// A script, not part of `npm test`: RSS of one process holding the service (CNN engine, 2 workers)
// and the SDK, around a client delete. Client A registers and classifies 4 images; then it is
// deleted (`delete`, default) or kept (`keep`); then client B does the same.
//   node test/server/cnn-forget-rss.ts [model=mnist-cnn] [delete|keep]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RemoteCnn } from '../../src/client/cnn-client.ts';
import { BlindDxClient } from '../../src/client/http-client.ts';
import { generateKeys } from '../../src/he/keys.ts';
import { configFromLiteral } from '../../src/server/config.ts';
import { CnnEngine } from '../../src/server/engines/cnn-engine.ts';
import { prepareDemoModels } from '../../src/server/engines/demo-models.ts';
import { ModelKindRouter } from '../../src/server/engines/model-kind-router.ts';
import { startService } from '../../src/server/lifecycle.ts';

const name = process.argv[2] ?? 'mnist-cnn';
const dir = mkdtempSync(join(tmpdir(), 'polish-rss-'));
const mb = () => (process.memoryUsage().rss / 2 ** 20).toFixed(0);
// Only the CNN: signed by prepareDemoModels from a source dir holding just it.
mkdirSync(join(dir, 'src'));
symlinkSync(fileURLToPath(new URL(`../../models/${name}`, import.meta.url)), join(dir, 'src', name));
const d = await prepareDemoModels({
  sourceDir: join(dir, 'src'),
  dataDir: join(dir, 'data'),
  cnnModels: [name],
});
let engine!: CnnEngine;
let token = '';
const svc = await startService(
  configFromLiteral(
    {
      host: '127.0.0.1',
      port: 0,
      dataDir: join(dir, 'data'),
      modelsDir: d.modelsDir,
      trustedKeyFiles: [d.trustedKeyFile],
      logLevel: 'warn',
    },
    {},
  ),
  {
    engine: new ModelKindRouter({ cnn: () => (engine = new CnnEngine({ workers: 2 })) }),
    onDevToken: (t) => (token = t),
  },
);
const sdk = new BlindDxClient({
  baseUrl: svc.url,
  token,
  trustedModelKeys: [JSON.parse(readFileSync(d.trustedKeyFile, 'utf8'))],
});
const img = Array.from({ length: 784 }, (_, i) => (i * 37) % 256);
const run = async (label: string) => {
  const cnn = await RemoteCnn.open(sdk, name);
  const keys = generateKeys(cnn.ctx, { relin: cnn.plan.relin, galoisSteps: cnn.plan.galoisSteps });
  await cnn.register(keys);
  await Promise.all([cnn.classify(img), cnn.classify(img), cnn.classify(img), cnn.classify(img)]);
  await new Promise((r) => setTimeout(r, 2000)); // mask refill
  console.log(
    `${label}: after 4 infers, workers hold ${JSON.stringify(await engine.cachedClients())}; rss ${mb()} MiB`,
  );
  return { cnn, keys };
};
console.log(`started; rss ${mb()} MiB`);
const mode = process.argv[3] ?? 'delete';
const a = await run('client A');
a.keys[Symbol.dispose]();
if (mode === 'delete') await sdk.deleteClient(a.cnn.clientId!);
console.log(
  `client A ${mode}: workers hold ${JSON.stringify(await engine.cachedClients())}; rss ${mb()} MiB; heap ${JSON.stringify(engine.stats())}`,
);
const b = await run('client B');
await sdk.deleteClient(b.cnn.clientId!);
console.log(
  `client B deleted: workers hold ${JSON.stringify(await engine.cachedClients())}; rss ${mb()} MiB`,
);
await svc.close();
rmSync(dir, { recursive: true, force: true });
