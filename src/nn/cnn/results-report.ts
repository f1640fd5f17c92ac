/**
 * The results tables: one measured row per (model, test set), the issue-7 floors checked against
 * each row, and the Markdown / JSON renderings of docs/results.md and docs/results.json.
 * Pure functions (no I/O), so they are tested directly.
 */

/** One measured row (kept as docs/results/<model>.json between runs). */
export interface ResultRow {
  readonly dataset: string;
  readonly model: string;
  /** What the test split is, in words. */
  readonly split: string;
  readonly n: number;
  readonly testSize: number;
  /** Seed of the subset shuffle (only meaningful when n < testSize). */
  readonly seed: number;
  readonly plainAcc: number;
  readonly simN: number;
  readonly simAcc: number;
  readonly simAgreement: number;
  /** Images the encrypted run saw (a seeded subset of the n; absent = all n) and plaintext accuracy on them. */
  readonly encN?: number;
  readonly plainAccOnEnc?: number;
  /** Encrypted accuracy / agreement / error on the encN images (throughput mode unless encMode says latency). */
  readonly encAcc: number;
  readonly agreement: number;
  readonly maxAbsLogitDelta: number;
  readonly encMode: 'throughput' | 'latency';
  readonly encProtected: boolean;
  readonly encParams: string;
  readonly encMsPerImage: number;
  readonly encBatches?: number;
  readonly encBatchSize?: number;
  /** One batch's upload: seeded ciphertexts (what a client sends) if `encBatchBytesUpSeeded`. */
  readonly encBatchBytesUp?: number;
  /**
   * True for rows measured since batch uploads are counted seeded; older kept rows counted full
   * serialized ciphertexts (2× larger) and are reported as `batchBytesUpFull` instead.
   */
  readonly encBatchBytesUpSeeded?: boolean;
  readonly encBatchBytesDown?: number;
  /** Latency: median ms per image over latencyImages single images in the latency plan. */
  readonly msPerImage: number;
  readonly latencyImages: number;
  readonly latencyImageMs: readonly number[];
  readonly latencyProtected: boolean;
  readonly latencyParams: string;
  readonly latencyAgreement: number;
  readonly latencyMaxAbsLogitDelta: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly galoisKeys: number;
  readonly galoisKeyBytes: number;
  readonly relinKeyBytes: number;
  readonly lambda?: number;
  /** 1-minute load average of the machine around the latency measurement (2 cores), when known. */
  readonly loadAverage?: number;
  /** sha256 of the model.json the row was measured on. */
  readonly modelSha256?: string;
  /** ISO time of a later latency re-measurement (remeasureLatency), if any. */
  readonly latencyMeasuredAt?: string;
  /** ISO time the row was measured and the wall time it took. */
  readonly measuredAt: string;
  readonly wallSeconds: number;
}

/** One issue-7 floor checked against one row. */
export interface FloorCheck {
  readonly floor: string;
  readonly measured: string;
  readonly met: boolean;
}

/** Encrypted accuracy floors of issue 7, by dataset name. */
export const ACCURACY_FLOORS: Readonly<Record<string, number>> = {
  MNIST: 0.985,
  'Fashion-MNIST': 0.88,
  'CIFAR-10': 0.7,
  PneumoniaMNIST: 0.85,
  BreastMNIST: 0.83,
};

/** Single-image latency floors of issue 7 (ms), by dataset name. */
export const LATENCY_FLOORS_MS: Readonly<Record<string, number>> = { MNIST: 1000, 'CIFAR-10': 60000 };

const EPS = 1e-9;
export const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const int = (v: number) => v.toLocaleString('en-US');

/** Images of the encrypted run, and the plaintext accuracy on those same images. */
export const encCount = (r: ResultRow) => r.encN ?? r.n;
const plainOnEnc = (r: ResultRow) => r.plainAccOnEnc ?? r.plainAcc;

/** The floors that apply to a row, each with the measured value and whether it is met. */
export function floorChecks(r: ResultRow): FloorCheck[] {
  const e = encCount(r);
  const out: FloorCheck[] = [
    {
      floor: 'encrypted test images: full split, or a seeded subset ≥ 1,000',
      measured: e === r.testSize ? `full (${int(e)})` : `${int(e)} of ${int(r.testSize)}`,
      met: e === r.testSize || e >= 1000,
    },
    {
      floor: 'encrypted vs plaintext agreement ≥ 99.5%',
      measured: pct(r.agreement),
      met: r.agreement >= 0.995 - EPS,
    },
    {
      floor: 'accuracy drop ≤ 0.5 points',
      measured: `${(100 * (plainOnEnc(r) - r.encAcc)).toFixed(2)} pt`,
      met: plainOnEnc(r) - r.encAcc <= 0.005 + EPS,
    },
  ];
  const acc = ACCURACY_FLOORS[r.dataset];
  if (acc !== undefined)
    out.push({
      floor: `encrypted accuracy ≥ ${(100 * acc).toFixed(1)}%`,
      measured: pct(r.encAcc),
      met: r.encAcc >= acc - EPS,
    });
  const lat = LATENCY_FLOORS_MS[r.dataset];
  if (lat !== undefined)
    out.push({
      floor: `latency per image ≤ ${lat / 1000} s (protected, served plan)`,
      measured: `${(r.msPerImage / 1000).toFixed(3)} s${r.latencyProtected ? '' : ' (unprotected plan)'}`,
      met: r.latencyProtected && r.msPerImage <= lat,
    });
  return out;
}

/** How the row's test images were chosen, in words. */
export function subsetText(r: ResultRow): string {
  const base =
    r.n < r.testSize
      ? `seed ${r.seed}: first ${r.n} of a shuffle of the ${r.testSize} test images`
      : `full test split (${r.testSize})`;
  const e = encCount(r);
  return e < r.n ? `${base}; encrypted: the first ${e} of a seed-${r.seed} shuffle of those` : base;
}

/** `docs/results.json`: the issue's schema (dataset, n, plainAcc, encAcc, agreement, msPerImage, bytes, Galois key bytes) plus detail. */
export function resultsJson(
  rows: readonly ResultRow[],
  command: string,
  extra: Record<string, unknown> = {},
) {
  return {
    command,
    rows: rows.map((r) => ({
      dataset: r.dataset,
      n: encCount(r),
      plainAcc: plainOnEnc(r),
      encAcc: r.encAcc,
      agreement: r.agreement,
      msPerImage: Number(r.msPerImage.toFixed(1)),
      bytesUp: r.bytesUp,
      bytesDown: r.bytesDown,
      galoisKeyBytes: r.galoisKeyBytes,
      model: r.model,
      split: r.split,
      testSize: r.testSize,
      plainN: r.n,
      plainAccAllN: r.plainAcc,
      subset: subsetText(r),
      simN: r.simN,
      simAcc: r.simAcc,
      simAgreement: r.simAgreement,
      maxAbsLogitDelta: r.maxAbsLogitDelta,
      encrypted: {
        mode: r.encMode,
        protected: r.encProtected,
        params: r.encParams,
        msPerImage: Number(r.encMsPerImage.toFixed(2)),
        ...(r.encBatches !== undefined ? { batches: r.encBatches, batchSize: r.encBatchSize } : {}),
        ...(r.encBatchBytesUp !== undefined
          ? {
              [r.encBatchBytesUpSeeded ? 'batchBytesUp' : 'batchBytesUpFull']: r.encBatchBytesUp,
              batchBytesDown: r.encBatchBytesDown,
            }
          : {}),
      },
      latency: {
        images: r.latencyImages,
        medianMs: Number(r.msPerImage.toFixed(1)),
        imageMs: r.latencyImageMs.map((v) => Number(v.toFixed(1))),
        protected: r.latencyProtected,
        params: r.latencyParams,
        agreement: r.latencyAgreement,
        maxAbsLogitDelta: r.latencyMaxAbsLogitDelta,
        galoisKeys: r.galoisKeys,
        relinKeyBytes: r.relinKeyBytes,
        ...(r.lambda !== undefined ? { lambda: Number(r.lambda.toFixed(1)) } : {}),
        ...(r.loadAverage !== undefined ? { loadAverage: r.loadAverage } : {}),
        ...(r.latencyMeasuredAt !== undefined ? { measuredAt: r.latencyMeasuredAt } : {}),
      },
      floors: floorChecks(r),
      measuredAt: r.measuredAt,
      wallSeconds: r.wallSeconds,
      ...(r.modelSha256 !== undefined ? { modelSha256: r.modelSha256 } : {}),
    })),
    ...extra,
  };
}

const kib = (b: number) => `${int(Math.round(b / 1024))} KiB`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/**
 * The main table and the floors table, as Markdown lines. Rows of `comparison` models (kept to
 * compare with other nets, not the dataset's model) show their floors in the main table only.
 */
export function resultsTables(
  rows: readonly ResultRow[],
  comparison: ReadonlySet<string> = new Set(),
): string[] {
  const main = [
    '| dataset | model | test images | plaintext acc | simulated acc (n) | encrypted acc | agreement | drop | max abs Δlogit | encrypted run | latency / image | bytes up / down | Galois keys | floors |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const checks = floorChecks(r);
      const met = checks.filter((c) => c.met).length;
      const enc = `${r.encMode}, ${r.encProtected ? 'protected' : 'unprotected'}, ${r.encParams}${r.encBatches !== undefined ? `, ${r.encBatches}×${int(r.encBatchSize ?? 0)} images` : ''}, ${r.encMsPerImage.toFixed(1)} ms/image`;
      const lat = `${int(Math.round(r.msPerImage))} ms (median of ${r.latencyImages}, ${r.latencyProtected ? 'protected' : 'unprotected'}, ${r.latencyParams}${r.loadAverage !== undefined ? `; load ${r.loadAverage.toFixed(1)}` : ''})`;
      const e = encCount(r);
      const imgs = `${r.n === r.testSize ? `full ${int(r.n)}` : `${int(r.n)} of ${int(r.testSize)} (seed ${r.seed})`}${e < r.n ? `; encrypted ${int(e)} (seeded)` : ''}`;
      const encAcc =
        e < r.n ? `${pct(r.encAcc)} (n=${int(e)}; plaintext on them ${pct(plainOnEnc(r))})` : pct(r.encAcc);
      const floorCell = `${met === checks.length ? '✓' : '✗'} ${met}/${checks.length}${comparison.has(r.model) ? ' (comparison net)' : ''}`;
      return `| ${r.dataset} | ${r.model} | ${imgs} | ${pct(r.plainAcc)} | ${pct(r.simAcc)} (${int(r.simN)}) | ${encAcc} | ${pct(r.agreement)} | ${(100 * (plainOnEnc(r) - r.encAcc)).toFixed(2)} pt | ${r.maxAbsLogitDelta.toExponential(1)} | ${enc} | ${lat} | ${kib(r.bytesUp)} / ${kib(r.bytesDown)} | ${r.galoisKeys}, ${mib(r.galoisKeyBytes)} | ${floorCell} |`;
    }),
  ];
  const floors = [
    '| dataset | model | floor (issue 7) | measured | met |',
    '|---|---|---|---|---|',
    ...rows
      .filter((r) => !comparison.has(r.model))
      .flatMap((r) =>
        floorChecks(r).map(
          (c) => `| ${r.dataset} | ${r.model} | ${c.floor} | ${c.measured} | ${c.met ? '✓' : '✗'} |`,
        ),
      ),
  ];
  return [...main, '', '### Floors', '', ...floors];
}

/** Floors that apply to a dataset but have no row at all (e.g. a model that does not exist yet). */
export function missingFloorRows(rows: readonly ResultRow[]): string[] {
  const have = new Set(rows.map((r) => r.dataset));
  return [...new Set([...Object.keys(ACCURACY_FLOORS), ...Object.keys(LATENCY_FLOORS_MS)])].filter(
    (d) => !have.has(d),
  );
}
