// A script, not part of `npm test`: measures a served MNIST CNN over HTTP with the SDK
// against a running service (e.g. `npm start`, which serves mnist-cnn):
//   node test/server/cnn-http-run.ts <url> <token> <publisher.pub.json> [n=20] [model=mnist-cnn]
// open + register, then n MNIST test images one at a time and n more with 2 in flight, each
// decrypted and compared with the float64 reference (argmax, max |Δlogit|).
import { readFileSync } from 'node:fs';
import { RemoteCnn } from '../../src/client/cnn-client.ts';
import { BlindDxClient } from '../../src/client/http-client.ts';
import { parseCnnModel } from '../../src/nn/cnn/ir.ts';
import { preprocessImage, referenceForward } from '../../src/nn/cnn/reference.ts';
import { loadIdxDataset } from '../../src/nn/data/idx.node.ts';
import { parsePublicKey } from '../../src/protocol/ed25519.ts';

const [url, token, pub, nStr, name = 'mnist-cnn'] = process.argv.slice(2);
const n = Number(nStr ?? 20);
const trusted = [await parsePublicKey(JSON.parse(readFileSync(pub, 'utf8')), pub)];
const http = new BlindDxClient({ baseUrl: url, token, trustedModelKeys: trusted });
const model = parseCnnModel(
  JSON.parse(readFileSync(new URL(`../../models/${name}/model.json`, import.meta.url), 'utf8')),
);
const ds = loadIdxDataset('mnist', 'test');
let t = performance.now();
using cnn = await RemoteCnn.open(http, name);
console.log('open (verify bundle + context) ms', (performance.now() - t).toFixed(0));
t = performance.now();
const reg = await cnn.register();
console.log('keygen + register ms', (performance.now() - t).toFixed(0), 'bytes', reg.bytes);
const img = (i: number) => Array.from(ds.images.subarray(i * 784, (i + 1) * 784));
const argmax = (v: ArrayLike<number>) => {
  let k = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[k]) k = i;
  return k;
};
const ms: number[] = [];
let agree = 0,
  correct = 0,
  maxD = 0,
  up = 0,
  down = 0;
for (let i = 0; i < n; i++) {
  const r = await cnn.classify(img(i));
  const want = referenceForward(model, preprocessImage(model, img(i)));
  ms.push(r.ms);
  up = r.bytes.up;
  down = r.bytes.down;
  for (let k = 0; k < want.length; k++) maxD = Math.max(maxD, Math.abs(r.logits[k] - want[k]));
  if (r.predicted === argmax(want)) agree++;
  if (r.predicted === ds.labels[i]) correct++;
}
const s = [...ms].sort((a, b) => a - b);
console.log(
  `sequential n=${n}: first ${ms[0].toFixed(0)} ms (keys parsed + weights encoded in the worker), median ${s[Math.floor(n / 2)].toFixed(0)} ms, p90 ${s[Math.floor(n * 0.9)].toFixed(0)}, min ${s[0].toFixed(0)}; up ${up} B down ${down} B; argmax agree ${agree}/${n}, correct ${correct}/${n}, max |Δlogit| ${maxD.toExponential(2)}`,
);
t = performance.now();
const rs = await cnn.classifyMany(
  Array.from({ length: n }, (_, i) => img(n + i)),
  { concurrency: 2 },
);
const wall = performance.now() - t;
let agree2 = 0;
rs.forEach((r, i) => {
  if (r.predicted === argmax(referenceForward(model, preprocessImage(model, img(n + i))))) agree2++;
});
console.log(
  `2 in flight n=${n}: wall ${(wall / 1000).toFixed(2)} s = ${(n / (wall / 1000)).toFixed(2)} images/s; argmax agree ${agree2}/${n}`,
);
await cnn.unregister();
