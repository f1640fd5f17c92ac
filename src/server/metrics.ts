/**
 * A minimal Prometheus registry (text exposition format 0.0.4): counters and histograms with
 * labels, and gauges read at scrape time. Label values are ids, routes and codes — never bodies.
 */

type _Labels = Readonly<Record<string, string>>;

function _key(labels: _Labels): string {
  return Object.keys(labels)
    .sort()
    .map(
      (k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
    )
    .join(',');
}

function _series(name: string, key: string, extra = ''): string {
  const all = [key, extra].filter((s) => s !== '').join(',');
  return all === '' ? name : `${name}{${all}}`;
}

interface _Metric {
  render(): string[];
}

export class Counter implements _Metric {
  readonly #values = new Map<string, number>();
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  inc(labels: _Labels = {}, by = 1): void {
    const k = _key(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  get(labels: _Labels = {}): number {
    return this.#values.get(_key(labels)) ?? 0;
  }
  render(): string[] {
    return [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} counter`,
      ...[...this.#values].map(([k, v]) => `${_series(this.name, k)} ${v}`),
    ];
  }
}

export class Histogram implements _Metric {
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();
  readonly name: string;
  readonly help: string;
  readonly buckets: readonly number[];
  constructor(name: string, help: string, buckets: readonly number[]) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
  }
  observe(labels: _Labels, value: number): void {
    const k = _key(labels);
    let s = this.#series.get(k);
    if (s === undefined) this.#series.set(k, (s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i]++;
    });
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.#series) {
      this.buckets.forEach((b, i) => {
        out.push(`${_series(`${this.name}_bucket`, k, `le="${b}"`)} ${s.counts[i]}`);
      });
      out.push(`${_series(`${this.name}_bucket`, k, 'le="+Inf"')} ${s.count}`);
      out.push(`${_series(`${this.name}_sum`, k)} ${s.sum}`);
      out.push(`${_series(`${this.name}_count`, k)} ${s.count}`);
    }
    return out;
  }
}

export class Gauge implements _Metric {
  readonly name: string;
  readonly help: string;
  readonly read: () => number;
  constructor(name: string, help: string, read: () => number) {
    this.name = name;
    this.help = help;
    this.read = read;
  }
  render(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`];
  }
}

const _latency = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The service's metrics. Gauges read live state through the callbacks given. */
export function createServiceMetrics(read: {
  queueActive: () => number;
  queueQueued: () => number;
  workerRestarts: () => number;
  modelsLoaded: () => number;
}) {
  const m = {
    httpRequests: new Counter('blinddx_http_requests_total', 'HTTP requests by route, method and status.'),
    httpDuration: new Histogram(
      'blinddx_http_request_duration_seconds',
      'HTTP request latency by route.',
      _latency,
    ),
    inferOutcomes: new Counter('blinddx_infer_total', 'Inference requests by model and outcome (code).'),
    inferCompute: new Histogram(
      'blinddx_infer_compute_seconds',
      'Engine time per inference request.',
      _latency,
    ),
    inferQueueWait: new Histogram(
      'blinddx_infer_queue_wait_seconds',
      'Time an accepted request waited for a slot.',
      _latency,
    ),
    inferCiphertexts: new Counter('blinddx_infer_ciphertexts_total', 'Ciphertexts evaluated, by model.'),
    queueActive: new Gauge('blinddx_compute_active', 'Inference jobs running now.', read.queueActive),
    queueDepth: new Gauge(
      'blinddx_queue_depth',
      'Inference jobs admitted and waiting for a slot.',
      read.queueQueued,
    ),
    workerRestarts: new Gauge(
      'blinddx_worker_restarts_total',
      'Engine worker restarts since start.',
      read.workerRestarts,
    ),
    modelsLoaded: new Gauge('blinddx_models_loaded', 'Verified models loaded.', read.modelsLoaded),
  };
  return Object.freeze({
    ...m,
    /** The whole registry in Prometheus text format. */
    render(): string {
      return `${Object.values(m)
        .flatMap((x) => x.render())
        .join('\n')}\n`;
    },
  });
}

export type ServiceMetrics = ReturnType<typeof createServiceMetrics>;
