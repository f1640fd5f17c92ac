// Load run with the REAL SEAL engine (not part of `npm test`): `src/apps/server/main.ts` — what
// `npm start` runs, the committed demo split models signed at start, SEAL head engine, default
// settings (synchronous=FULL, 2 workers, log level info) — in its own process on 127.0.0.1 with a
// temp data dir. N clients, each with its own SEAL key set and registered public key, send M real
// ciphertexts each: embeddings of PneumoniaMNIST test images computed once by the pinned backbone,
// one FRESH encryption per request (N×M distinct ciphertexts, all made before the timed window so
// the load generator's CPU stays out of it), each with an idempotency key, no SDK retries (any
// error counts). Every response's signature is verified by the SDK; every `sample`-th result is
// decrypted after the run and compared with the float64 head (|Δp| ≤ 1e-6).
//
// Reports throughput, p50/p99 latency, errors, the service's RSS over time; after a graceful stop,
// checks every request id has exactly one infer.accepted + one outcome, every idempotency key maps
// to one completed request whose stored response is intact, nothing is left open in the store,
// and `blinddx audit verify` passes.
//
// --kill: SIGKILL the service once half the requests are acknowledged, restart it on the same
// data dir, let each client retry its interrupted request with the same idempotency key and
// bytes, then finish the run. Checks every acknowledged request has its completed record, every
// request left "accepted" by the crash got exactly one "interrupted", and the chain verifies.
//
//   node test/server/load-run-seal.ts [clients=8] [requestsPerClient=200] [--kill] [--sample=4]
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { BlindDxClient, type InferResult } from '../../src/client/http-client.ts';
import { readPinnedBackbone } from '../../src/client/node/backbone.node.ts';
import { headProbabilities, loadResults, openSplitHeadModel } from '../../src/client/split-head-flow.ts';
import { HeContext } from '../../src/he/context.ts';
import { generateKeys, type KeySet } from '../../src/he/keys.ts';
import { decryptLogits, encryptEmbedding } from '../../src/nn/coeff-head-client.ts';
import { loadMedMnist } from '../../src/nn/data/medmnist.node.ts';
import { computeEmbeddings } from '../../src/nn/eval/embeddings.node.ts';
import { evaluateHeadPlain, probabilities } from '../../src/nn/head.ts';
import { loadSplitModelDir } from '../../src/nn/train/evaluate.node.ts';
import { sha256Digest } from '../../src/protocol/digest.ts';
import { type PublicKeyJwk, parsePublicKey } from '../../src/protocol/ed25519.ts';
import type { ServerKeyBody } from '../../src/protocol/schemas.ts';
import { HEADER } from '../../src/protocol/wire.ts';
import { SQLITE_FILE } from '../../src/server/store/sqlite-store.ts';

const args = process.argv.slice(2);
const positional = args.filter((a) => !a.startsWith('--'));
const clients = Number(positional[0] ?? 8);
const perClient = Number(positional[1] ?? 200);
const killMode = args.includes('--kill');
const sample = Number(args.find((a) => a.startsWith('--sample='))?.slice(9) ?? 4);
if (!(Number.isInteger(clients) && clients > 0 && Number.isInteger(perClient) && perClient > 0 && sample > 0))
  throw new TypeError('usage: load-run-seal.ts [clients] [requestsPerClient] [--kill] [--sample=K]');

const MODEL = 'pneumoniamnist';
const TOLERANCE = 1e-6;
const RUN_DEADLINE_MS = 20 * 60_000; // whole script, a hard bound
const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'load-run-seal-'));
const dataDir = join(dir, 'data');
const deadline = setTimeout(() => {
  console.error('load-run-seal: deadline exceeded');
  process.exit(2);
}, RUN_DEADLINE_MS);
deadline.unref();
const log = (m: string) => process.stderr.write(`[load-run-seal] ${m}\n`);
const round = (x: number, d = 1) => Number(x.toFixed(d));
const load = () => loadavg().map((x) => round(x, 2));

interface Service {
  child: ChildProcess;
  url: string;
  token: string | null;
  recoveredInterrupted: number;
  startMs: number;
  /** warn/error lines the service logged (first few kept). */
  problems: string[];
  problemCount: number;
}

/** Starts src/apps/server/main.ts; resolves with its URL (from the "listening" log line) and token. */
function startService(): Promise<Service> {
  const t0 = performance.now();
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('BLINDDX_')) delete env[k];
  const child = spawn(process.execPath, [join(root, 'src/apps/server/main.ts')], {
    env: {
      ...env,
      BLINDDX_HOST: '127.0.0.1',
      BLINDDX_PORT: '0',
      BLINDDX_DATA_DIR: dataDir,
      BLINDDX_LOG_LEVEL: 'info', // the default; the port is read from the "listening" line
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.child = child;
  const svc: Partial<Service> & { problems: string[]; problemCount: number } = {
    child,
    token: null,
    problems: [],
    problemCount: 0,
  };
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => {
    if (stderr.length < 8000) stderr += b.toString();
  });
  return new Promise((resolve, reject) => {
    // Keep draining stdout for the whole run (pino writes synchronously: a full pipe would stall it).
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const bearer = /Authorization: Bearer (\S+)/.exec(line);
      if (bearer) svc.token = bearer[1];
      if (!line.startsWith('{')) return;
      if (line.includes('"level":40') || line.includes('"level":50') || line.includes('"level":60')) {
        svc.problemCount++;
        if (svc.problems.length < 5) svc.problems.push(line.slice(0, 400));
      }
      if (svc.url === undefined && line.includes('BlindDx service listening')) {
        const j = JSON.parse(line) as { port: number; recoveredInterrupted: number };
        svc.url = `http://127.0.0.1:${j.port}`;
        svc.recoveredInterrupted = j.recoveredInterrupted;
        svc.startMs = performance.now() - t0;
        resolve(svc as Service);
      }
    });
    child.once('exit', (code, signal) => {
      if (svc.url === undefined)
        reject(new Error(`service exited before listening (${code ?? signal}): ${stderr}`));
    });
  });
}

const exited = (c: ChildProcess) =>
  new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

/** The service's resident memory in MiB: total, anonymous (heaps, WebAssembly) and file-backed/shared. */
const rssOf = (pid: number) => {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (f: string) => Number(new RegExp(`${f}:\\s+(\\d+)`).exec(st)?.[1] ?? Number.NaN);
    const mib = (x: number) => Math.round(x / 1024);
    return {
      mib: mib(kib('VmRSS')),
      anon: mib(kib('RssAnon')),
      fileShmem: mib(kib('RssFile') + kib('RssShmem')),
    };
  } catch {
    return null; // the process is gone
  }
};

const running: { child: ChildProcess | null } = { child: null }; // killed in `finally` on a failure

interface Ack {
  c: number;
  i: number;
  requestId: string;
  replay: boolean;
  resultDigest: string;
  phase: 1 | 2;
}

try {
  // ---- client-side material, computed once ----------------------------------------------------
  const loadAtStart = load();
  const split = loadSplitModelDir(join(root, 'models', MODEL));
  const ds = loadMedMnist(MODEL, 'test');
  const emb = await computeEmbeddings(split.backbone, split.manifest.preprocessing, ds);
  const embedding = (k: number) => emb.data.subarray((k % emb.n) * emb.d, ((k % emb.n) + 1) * emb.d);
  const imageOf = (c: number, i: number) => c * perClient + i;
  log(`embeddings: ${emb.n} test images × ${emb.d}`);

  let svc = await startService();
  const token = svc.token;
  if (token === null) throw new Error('the service printed no dev token on its first start');
  log(`service up at ${svc.url} in ${Math.round(svc.startMs)} ms (pid ${svc.child.pid})`);
  const publisher = await parsePublicKey(
    JSON.parse(readFileSync(join(dataDir, 'demo-publisher.pub.json'), 'utf8')),
    'demo publisher',
  );
  const serverKeys = async (url: string): Promise<PublicKeyJwk[]> => {
    const body = (await (await fetch(`${url}/v1/server-key`)).json()) as ServerKeyBody;
    return Promise.all(body.keys.map((k, n) => parsePublicKey(k, `server key ${n}`)));
  };
  const pinned = await serverKeys(svc.url); // pinned once; the restarted service must sign with it
  const makeSdk = (url: string) =>
    new BlindDxClient({
      baseUrl: url,
      token,
      trustedModelKeys: [publisher],
      serverKeys: pinned,
      retry: { maxAttempts: 1 },
    });
  let sdk = makeSdk(svc.url);
  const model = await openSplitHeadModel(sdk, MODEL); // bundle signature verified
  await readPinnedBackbone(model, [join(root, 'models', MODEL, split.manifest.backbone.file)]);
  const plan = model.layout.plan;

  using ctx = await HeContext.create(model.manifest.preset);
  const keys: KeySet[] = [];
  const clientIds: string[] = [];
  for (let c = 0; c < clients; c++) {
    const k = generateKeys(ctx, {});
    keys.push(k);
    clientIds.push((await sdk.register(MODEL, { publicKey: k.exportPublic().publicKey })).clientId);
  }
  let t = performance.now();
  const cts: Uint8Array[][] = keys.map((k, c) =>
    Array.from({ length: perClient }, (_, i) => encryptEmbedding(k, plan, embedding(imageOf(c, i)))),
  );
  const encryptMs = performance.now() - t;
  log(
    `${clients} key sets registered; ${clients * perClient} fresh encryptions in ${Math.round(encryptMs)} ms`,
  );

  const idemKey = (c: number, i: number) => `seal-load-c${c}-r${i}`;
  const samples: { c: number; i: number; bytes: Uint8Array }[] = [];
  const checkStatement = (r: InferResult, c: number) => {
    if (r.statement.modelDigest !== model.modelDigest || r.statement.clientId !== clientIds[c])
      throw new Error('signed statement names another model or client');
  };

  // Warm-up: one request per client (fills its mask reservoirs); outside the timed window.
  const warmIds: string[] = [];
  for (let c = 0; c < clients; c++) {
    const r = await sdk.infer({
      modelId: MODEL,
      clientId: clientIds[c],
      inputs: [encryptEmbedding(keys[c], plan, embedding(c))],
      idempotencyKey: `seal-load-warm-c${c}`,
    });
    checkStatement(r, c);
    warmIds.push(r.requestId!);
  }

  // ---- the timed run ----------------------------------------------------------------------------
  const total = clients * perClient;
  const acks: Ack[] = [];
  const lat: number[] = [];
  const errors: { c: number; i: number; phase: number; message: string }[] = [];
  const atKill: { c: number; i: number; cause: string }[] = [];
  const rss: { s: number; mib: number; anon: number; fileShmem: number }[] = [];
  let phase: 1 | 2 = 1;
  let generation = 0; // which service process `sdk` talks to
  let killed = false;
  let restarted: () => void = () => {};
  const restart = new Promise<void>((r) => (restarted = r));
  const t0 = performance.now();
  const sampleRss = () => {
    const m = rssOf(svc.child.pid!);
    if (m !== null) rss.push({ s: round((performance.now() - t0) / 1000), ...m });
  };
  sampleRss();
  const sampler = setInterval(sampleRss, 1000);
  sampler.unref();

  const worker = async (c: number) => {
    for (let i = 0; i < perClient; i++) {
      // At most one retry of a request, and only the one the kill cut off.
      for (let attempt = 0; attempt < 2; attempt++) {
        const s = performance.now();
        const gen = generation;
        try {
          const r = await sdk.infer({
            modelId: MODEL,
            clientId: clientIds[c],
            inputs: [cts[c][i]],
            idempotencyKey: idemKey(c, i),
          });
          lat.push(performance.now() - s);
          checkStatement(r, c);
          acks.push({
            c,
            i,
            requestId: r.requestId!,
            replay: r.replay,
            resultDigest: r.statement.resultDigest,
            phase,
          });
          if (i % sample === 0 || attempt > 0) samples.push({ c, i, bytes: r.results[0] });
          break;
        } catch (e) {
          if (killMode && killed && gen === 0 && attempt === 0) {
            const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
            atKill.push({ c, i, cause: String(cause) });
            await restart; // then retry the same request: same idempotency key, same bytes
            continue;
          }
          errors.push({ c, i, phase, message: String((e as Error).message).slice(0, 200) });
          break;
        }
      }
    }
  };

  const killInfo: {
    killedAtSec?: number;
    ackedBeforeKill?: number;
    phase1ThroughputPerSec?: number;
    loadAverageAtKill?: number[];
    downMs?: number;
    restartStartMs?: number;
    recoveredInterrupted?: number;
    firstServiceWarnOrErrorLines?: number;
  } = {};
  const killer = async () => {
    if (!killMode) return;
    // Bounded: give up (no kill; the run then fails its checks) on an error or after 10 minutes.
    while (acks.length < total / 2) {
      if (errors.length > 0 || performance.now() - t0 > 600_000) return;
      await new Promise((r) => setTimeout(r, 2));
    }
    const ackedBeforeKill = acks.length;
    const loadAtKill = load();
    const tKill = performance.now();
    killed = true;
    svc.child.kill('SIGKILL');
    await exited(svc.child);
    const first = svc;
    svc = await startService();
    sdk = makeSdk(svc.url);
    generation = 1;
    const downMs = performance.now() - tKill;
    // The restarted service must sign with the key the clients pinned.
    const again = await serverKeys(svc.url);
    if (again.map((k) => k.kid).join() !== pinned.map((k) => k.kid).join())
      throw new Error('the restarted service signs with another key');
    phase = 2;
    Object.assign(killInfo, {
      killedAtSec: round((tKill - t0) / 1000),
      ackedBeforeKill,
      phase1ThroughputPerSec: round(ackedBeforeKill / ((tKill - t0) / 1000)),
      loadAverageAtKill: loadAtKill,
      downMs: Math.round(downMs),
      restartStartMs: Math.round(svc.startMs),
      recoveredInterrupted: svc.recoveredInterrupted,
      firstServiceWarnOrErrorLines: first.problemCount,
    });
    log(`killed at ${ackedBeforeKill} acks; back after ${Math.round(downMs)} ms`);
    restarted();
  };
  await Promise.all([killer(), ...Array.from({ length: clients }, (_, c) => worker(c))]);
  const secs = (performance.now() - t0) / 1000;
  const loadAtEnd = load();
  clearInterval(sampler);
  sampleRss();
  const problems = { count: svc.problemCount, first: svc.problems };
  svc.child.kill('SIGTERM');
  await exited(svc.child);
  log(`run done in ${secs.toFixed(1)} s; service stopped (${svc.child.exitCode ?? svc.child.signalCode})`);

  // ---- decrypt the sample, compare with the float64 head ----------------------------------------
  t = performance.now();
  let maxDeltaP = 0;
  let argmaxAgree = 0;
  for (const s of samples) {
    const x = embedding(imageOf(s.c, s.i));
    const results = loadResults(ctx, model.layout, s.bytes);
    let logits: Float64Array;
    try {
      logits = decryptLogits(keys[s.c], plan, results);
    } finally {
      for (const r of results) r[Symbol.dispose]();
    }
    const p = headProbabilities(model.layout, logits);
    const ref = probabilities(split.head, evaluateHeadPlain(split.head, x));
    let a = 0;
    let b = 0;
    for (let j = 0; j < ref.length; j++) {
      maxDeltaP = Math.max(maxDeltaP, Math.abs(p[j] - ref[j]));
      if (p[j] > p[a]) a = j;
      if (ref[j] > ref[b]) b = j;
    }
    if (a === b) argmaxAgree++;
  }
  const decryptMs = performance.now() - t;
  for (const k of keys) k[Symbol.dispose]();

  // ---- the store, read only after the stop ------------------------------------------------------
  const db = new DatabaseSync(join(dataDir, SQLITE_FILE), { readOnly: true });
  const integrity = (db.prepare('PRAGMA integrity_check').get() as { integrity_check: string })
    .integrity_check;
  const audit = db
    .prepare("SELECT subject, action FROM audit WHERE action LIKE 'infer.%' ORDER BY seq")
    .all() as { subject: string; action: string }[];
  const statuses = Object.fromEntries(
    (
      db.prepare('SELECT status, COUNT(*) AS n FROM requests GROUP BY status').all() as {
        status: string;
        n: number;
      }[]
    ).map((r) => [r.status, r.n]),
  );
  const reqStatus = new Map(
    (db.prepare('SELECT id, status FROM requests').all() as { id: string; status: string }[]).map((r) => [
      r.id,
      r.status,
    ]),
  );
  const idem = new Map(
    (
      db.prepare('SELECT key, request_id, state, headers, body FROM idempotency').all() as {
        key: string;
        request_id: string;
        state: string;
        headers: string | null;
        body: Uint8Array | null;
      }[]
    ).map((r) => [r.key, r]),
  );
  db.close();

  const bySubject = new Map<string, string[]>();
  for (const e of audit)
    if (e.action !== 'infer.rejected')
      bySubject.set(e.subject, [...(bySubject.get(e.subject) ?? []), e.action]);
  const pairOk = (id: string) =>
    bySubject.get(id)?.join() === 'infer.accepted,infer.completed' && reqStatus.get(id) === 'completed';
  const fresh = acks.filter((a) => !a.replay);
  const ackIds = new Set([...warmIds, ...fresh.map((a) => a.requestId)]);
  const outcomes: Record<string, number> = {};
  let malformed = 0;
  for (const [, actions] of bySubject) {
    if (actions.length !== 2 || actions[0] !== 'infer.accepted') malformed++;
    else outcomes[actions[1]] = (outcomes[actions[1]] ?? 0) + 1;
  }
  // Every idempotency key the clients used → exactly one completed request, stored response intact
  // (its bytes hash to the signed result digest, which is the digest the client verified).
  let keysOk = 0;
  const keyProblems: string[] = [];
  const ackByKey = new Map(acks.map((a) => [idemKey(a.c, a.i), a]));
  for (let c = 0; c < clients; c++)
    for (let i = 0; i < perClient; i++) {
      const row = idem.get(idemKey(c, i));
      const a = ackByKey.get(idemKey(c, i));
      const stored = row?.headers ? (JSON.parse(row.headers) as Record<string, string>) : null;
      const ok =
        row !== undefined &&
        row.state === 'done' &&
        pairOk(row.request_id) &&
        row.body !== null &&
        stored !== null &&
        (await sha256Digest(new Uint8Array(row.body))) === stored[HEADER.resultDigest] &&
        (a === undefined ||
          (a.resultDigest === stored[HEADER.resultDigest] && (a.replay || a.requestId === row.request_id)));
      if (ok) keysOk++;
      else if (keyProblems.length < 5) keyProblems.push(idemKey(c, i));
    }
  const extra = [...bySubject.keys()].filter((id) => !ackIds.has(id));
  const auditCli = (() => {
    try {
      const out = execFileSync(
        process.execPath,
        [join(root, 'src/apps/cli/main.ts'), 'audit', 'verify', '--data-dir', dataDir],
        { encoding: 'utf8' },
      );
      return { exitCode: 0, output: out.trim() };
    } catch (e) {
      const x = e as { status: number; stderr: string; stdout: string };
      return { exitCode: x.status, output: `${x.stdout}${x.stderr}`.trim() };
    }
  })();

  lat.sort((a, b) => a - b);
  const q = (p: number) => round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]);
  const every = Math.max(1, Math.ceil(rss.length / 12));
  const report = {
    mode: killMode ? 'kill -9 mid-run' : 'steady',
    clients,
    perClient,
    inputs: `${MODEL} test embeddings, one fresh encryption per request (${cts[0][0].length} B each), pre-encrypted`,
    loadAverage: { start: loadAtStart, end: loadAtEnd },
    requests: total,
    acknowledged: acks.length,
    replays: acks.length - fresh.length,
    uniqueRequestIds: new Set(fresh.map((a) => a.requestId)).size,
    errors: errors.length,
    firstErrors: errors.slice(0, 3),
    wallSeconds: round(secs),
    throughputPerSec: round(acks.length / secs),
    latencyMs: { p50: q(0.5), p99: q(0.99), max: round(lat.at(-1) ?? Number.NaN) },
    clientEncryptMsPerRequest: round(encryptMs / total, 2),
    serviceRssMiB: {
      first: rss[0]?.mib,
      max: Math.max(...rss.map((r) => r.mib)),
      last: rss.at(-1)?.mib,
      anonFirstLast: [rss[0]?.anon, rss.at(-1)?.anon],
      fileShmemFirstLast: [rss[0]?.fileShmem, rss.at(-1)?.fileShmem],
      series: rss.filter((_, n) => n % every === 0 || n === rss.length - 1).map((r) => `${r.s}s:${r.mib}`),
    },
    serviceWarnOrErrorLines: problems,
    decrypted: {
      samples: samples.length,
      maxAbsDeltaP: maxDeltaP,
      withinTolerance: maxDeltaP <= TOLERANCE,
      argmaxAgree,
      ms: Math.round(decryptMs),
    },
    ...(killMode
      ? { kill: { ...killInfo, inFlightAtKill: atKill.length, causes: _count(atKill.map((a) => a.cause)) } }
      : {}),
    store: {
      integrity,
      requestStatuses: statuses,
      leftAccepted: statuses.accepted ?? 0,
      idempotencyPending: [...idem.values()].filter((r) => r.state === 'pending').length,
    },
    audit: {
      inferRequestIds: bySubject.size,
      outcomes,
      malformed,
      acknowledgedWithAcceptedAndCompleted: [...ackIds].filter(pairOk).length,
      acknowledged: ackIds.size,
      notAcknowledged: extra.length,
      notAcknowledgedOutcomes: _count(extra.map((id) => bySubject.get(id)!.join('→'))),
      idempotencyKeysWithOneCompletedIntactResult: keysOk,
      idempotencyKeys: total,
      keyProblems,
      cliAuditVerify: auditCli,
    },
  };
  const interrupted = outcomes['infer.interrupted'] ?? 0;
  const pass =
    errors.length === 0 &&
    acks.length === total &&
    maxDeltaP <= TOLERANCE &&
    integrity === 'ok' &&
    report.store.leftAccepted === 0 &&
    report.store.idempotencyPending === 0 &&
    malformed === 0 &&
    report.audit.acknowledgedWithAcceptedAndCompleted === ackIds.size &&
    keysOk === total &&
    auditCli.exitCode === 0 &&
    (killMode
      ? killInfo.recoveredInterrupted !== undefined &&
        interrupted === killInfo.recoveredInterrupted &&
        extra.every((id) => /completed|interrupted/.test(bySubject.get(id)!.join()))
      : extra.length === 0 && interrupted === 0 && fresh.length === total && ackIds.size === total + clients);
  console.log(JSON.stringify({ ...report, pass }, null, 2));
  process.exitCode = pass ? 0 : 1;
} finally {
  clearTimeout(deadline);
  const left = running.child;
  if (left !== null && left.exitCode === null && left.signalCode === null) {
    left.kill('SIGKILL');
    await exited(left);
  }
  rmSync(dir, { recursive: true, force: true });
}

function _count(xs: readonly string[]): Record<string, number> {
  const m: Record<string, number> = {};
  for (const x of xs) m[x] = (m[x] ?? 0) + 1;
  return m;
}
