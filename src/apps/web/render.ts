/**
 * DOM rendering for the web app: the result with its triage wording, the step-by-step panel, the
 * history table. Text only ever goes in through `textContent` (never HTML strings).
 */
import type { ScanRecord, StoredKeySet } from './store.ts';
import type { DiagnoseResult, KeygenResult, SentRequest, UnlockResult } from './worker-protocol.ts';

type Child = Node | string | null | undefined | false;

/** `h('p', { class: 'x' }, 'text', child)`: an element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return e;
}

export const kib = (n: number) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`);
export const ms = (n: number) => `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`;
/** A percentage with one decimal, two near 0 and 100 (so 99.97% does not read as a certain 100.0%). */
export const pct = (p: number) => `${(100 * p).toFixed(p > 0.999 || p < 0.001 ? 2 : 1)}%`;
const short = (d: string) => `${d.slice(0, 19)}…`;

/** Hex view: 16 bytes a line with offsets. */
export function hexView(hex: string): string {
  const lines: string[] = [];
  for (let i = 0; i < hex.length; i += 32) {
    const bytes = hex.slice(i, i + 32).match(/../g) ?? [];
    lines.push(`${(i / 2).toString(16).padStart(4, '0')}  ${bytes.join(' ')}`);
  }
  return lines.join('\n');
}

export interface Triage {
  readonly level: 'priority' | 'routine' | 'uncertain';
  readonly text: string;
}

const _negative = /^(normal|benign|negative|healthy|no finding)/i;
/** Below this top probability the wording says the model is uncertain. */
export const UNCERTAIN_BELOW = 0.65;

/** Triage wording for a result: what to do next, never a diagnosis. */
export function triageWording(
  classes: readonly string[],
  probs: readonly number[],
  predicted: number,
): Triage {
  const name = classes[predicted];
  const p = probs[predicted];
  if (p < UNCERTAIN_BELOW) {
    return {
      level: 'uncertain',
      text: `The model is uncertain (most likely "${name}", ${pct(p)}). Treat this image as unread: a clinician should review it.`,
    };
  }
  if (_negative.test(name)) {
    return {
      level: 'routine',
      text: `No finding flagged by the model ("${name}", ${pct(p)}). Routine review by a clinician.`,
    };
  }
  return {
    level: 'priority',
    text: `Findings suggestive of "${name}" (${pct(p)}). Flag for priority review by a clinician.`,
  };
}

export function renderResult(r: DiagnoseResult, source: string): HTMLElement {
  const t = triageWording(r.classes, r.probabilities, r.predicted);
  const probs = h('div', { class: 'probs', role: 'list', 'aria-label': 'Class probabilities' });
  r.classes.forEach((c, i) => {
    const p = r.probabilities[i];
    const bar = h('span', {});
    bar.style.width = `${(100 * p).toFixed(2)}%`;
    probs.append(
      h(
        'div',
        {
          class: `prob${i === r.predicted ? ' top' : ''}`,
          role: 'listitem',
          'data-class': c,
          // Full precision for checks and exports; the page shows one decimal.
          'data-p': String(p),
        },
        h('span', { class: 'name' }, c),
        h('span', { class: 'bar', 'aria-hidden': 'true' }, bar),
        h('span', { class: 'pct' }, pct(p)),
      ),
    );
  });
  return h(
    'div',
    {},
    h('p', {}, 'Image ', h('strong', {}, source), ` · model ${r.modelId} ${r.version}`),
    probs,
    h('p', { class: `triage ${t.level}`, id: 'triage' }, t.text),
    h(
      'p',
      {},
      h('strong', {}, 'AI is triage support, not a diagnosis: '),
      'a qualified clinician must review the image.',
    ),
    h(
      'p',
      { class: 'help' },
      h('span', { class: 'ok' }, '✓ '),
      `Only this browser could decrypt this result. Model bundle and server signature verified (model digest `,
      h('code', {}, short(r.modelDigest)),
      ').',
    ),
  );
}

function step(title: string, ...body: Child[]): HTMLLIElement {
  return h('li', {}, h('h3', {}, title), ...body);
}

function requestBlock(q: SentRequest): HTMLElement {
  const what =
    q.parts !== undefined
      ? ` parts: ${q.parts.map((p) => `${p.name} (${kib(p.bytes)})`).join(', ')}`
      : q.bytes > 0
        ? ` ${q.contentType ?? ''}`
        : '';
  return h(
    'div',
    { class: 'request' },
    h(
      'p',
      { class: 'mono' },
      `${q.method} ${q.path} → ${q.status} · ${kib(q.bytes)} sent${what} · ${ms(q.ms)}`,
    ),
    q.head === ''
      ? null
      : h(
          'details',
          {},
          h('summary', {}, `First ${q.head.length / 2} bytes sent (hex)`),
          h('pre', { class: 'hex', 'aria-label': `First bytes of ${q.method} ${q.path}` }, hexView(q.head)),
        ),
  );
}

export interface KeyFacts {
  readonly stored: StoredKeySet;
  readonly event: { kind: 'created'; r: KeygenResult } | { kind: 'unlocked'; r: UnlockResult } | null;
}

export function renderKeyInfo(k: StoredKeySet): HTMLElement {
  return h(
    'dl',
    { class: 'help' },
    h('dt', {}, 'Key set'),
    h('dd', {}, h('code', {}, k.keySetId), ` · ${k.preset} (CKKS, ring degree ${k.ringDegree})`),
    h('dt', {}, 'Sizes'),
    h(
      'dd',
      {},
      `public key ${kib(k.publicKeyBytes)} (uploaded once per model) · secret key ${kib(k.secretKeyBytes)}, stored sealed (${kib(Math.floor((k.secret.sealed.length * 3) / 4))})`,
    ),
    h('dt', {}, 'Created'),
    h('dd', {}, new Date(k.createdAt).toLocaleString()),
  );
}

/** The explainer: one item per step of the last diagnosis. */
export function renderSteps(
  r: DiagnoseResult,
  keys: KeyFacts,
  publisherKids: readonly string[],
): HTMLElement[] {
  const t = r.timingsMs;
  const l = r.local;
  const items: HTMLElement[] = [];
  const k = keys.stored;
  const ev = keys.event;
  items.push(
    step(
      'Keys — made and kept in this browser',
      h(
        'p',
        {},
        `CKKS key set ${k.keySetId} for ${k.preset} (ring degree ${k.ringDegree}), generated by SEAL's WebAssembly in a Web Worker. ` +
          `Secret key ${kib(k.secretKeyBytes)}: never leaves the worker except sealed with your passphrase into IndexedDB. ` +
          `Public key ${kib(k.publicKeyBytes)}.`,
      ),
      ev === null
        ? null
        : ev.kind === 'created'
          ? h(
              'p',
              {},
              `This session: context ${ms(ev.r.timingsMs.context)}, key generation ${ms(ev.r.timingsMs.keygen)}, sealing ${ms(ev.r.timingsMs.seal)}.`,
            )
          : h(
              'p',
              {},
              `This session: passphrase check and unsealing ${ms(ev.r.timingsMs.open)}, context ${ms(ev.r.timingsMs.context)}, keys rebuilt ${ms(ev.r.timingsMs.keys)}.`,
            ),
    ),
  );
  items.push(
    step(
      'Model bundle verified',
      h(
        'p',
        {},
        `${r.modelId} ${r.version}: signature checked against the pinned publisher key ${publisherKids.join(', ')} (${ms(t.bundle)}).`,
      ),
      h('p', {}, 'Model digest ', h('code', { id: 'model-digest' }, r.modelDigest)),
    ),
  );
  items.push(
    step(
      'Computed locally (nothing sent)',
      h(
        'p',
        {},
        l.backboneCached
          ? `Backbone ${l.backboneFile} already loaded (digest checked when downloaded).`
          : `Backbone ${l.backboneFile} downloaded (${kib(l.backboneBytes)}); its SHA-256 matches the signed digest; loaded into onnxruntime-web (WebAssembly) in ${ms(t.backboneLoad)}.`,
      ),
      h(
        'p',
        {},
        `Your image (${l.sourceWidth}×${l.sourceHeight}, ${l.sourceChannels} channel${l.sourceChannels > 1 ? 's' : ''}) → preprocessed to ${l.inputShape.join('×')} (${ms(t.preprocess)}) → backbone → embedding of ${l.embeddingDim} numbers (${ms(t.embed)}).`,
      ),
    ),
  );
  items.push(
    step(
      'Encrypted in the worker',
      h(
        'p',
        {},
        `The ${l.embeddingDim}-number embedding was encoded into polynomial coefficients and encrypted with your key (seeded symmetric CKKS): ${kib(r.bytes.up)} of ciphertext in ${ms(t.encrypt)}.`,
      ),
    ),
  );
  items.push(
    step(
      'Sent — this is all the service received',
      h(
        'p',
        {},
        r.registered === null
          ? 'Your public key was already registered for this model: only the ciphertext was sent.'
          : `Your public key was registered once for this model (${kib(r.bytes.keyUpload)}, ${ms(t.register)}); later scans send only a ciphertext.`,
      ),
      ...r.requests.filter((q) => q.method !== 'GET').map(requestBlock),
      h(
        'p',
        { class: 'help' },
        `Also fetched (no body sent): ${r.requests
          .filter((q) => q.method === 'GET')
          .map((q) => q.path)
          .join(', ')}.`,
      ),
    ),
  );
  items.push(
    step(
      'Computed by the service, under encryption',
      h(
        'p',
        {},
        `The service evaluated its private head on the ciphertext and answered ${kib(r.bytes.down)} of encrypted logits (round trip ${ms(t.infer)}). It cannot read your image, the embedding or the result.`,
      ),
      h(
        'p',
        {},
        h('span', { class: 'ok' }, '✓ '),
        `Response signature verified with the pinned server key ${r.signature.serverKid}, signed ${new Date(r.signature.signedAt).toLocaleString()}; it names this model digest, the digest of the request and of the result.`,
      ),
      h(
        'p',
        { class: 'help mono' },
        `request ${r.requestId ?? '—'} · result ${short(r.signature.resultDigest)}`,
      ),
    ),
  );
  items.push(
    step(
      'Decrypted here',
      h(
        'p',
        {},
        `Result checked (level, scale, size) before decryption, decrypted with your secret key and turned into probabilities in the worker (${ms(t.decrypt)}).`,
      ),
      h(
        'p',
        { class: 'help' },
        'Plaintext vs encrypted: the head is the vendor’s private model, so this browser cannot recompute it in the clear. On the vendor’s test sets the encrypted and plaintext results differ by at most 3·10⁻⁸ in probability (docs/encrypted-head.md).',
      ),
    ),
  );
  const rows: [string, number][] = [
    ['verify bundle', t.bundle],
    ['load backbone', t.backboneLoad],
    ['preprocess', t.preprocess],
    ['backbone', t.embed],
    ['encrypt', t.encrypt],
    ['register key', t.register],
    ['round trip', t.infer],
    ['decrypt', t.decrypt],
    ['total', t.total],
  ];
  items.push(
    step(
      'Timings',
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'timings' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'step'), h('th', { scope: 'col' }, 'time'))),
          h('tbody', {}, ...rows.map(([n, v]) => h('tr', {}, h('td', {}, n), h('td', {}, ms(v))))),
        ),
      ),
    ),
  );
  return items;
}

export function renderHistory(scans: readonly ScanRecord[]): HTMLElement {
  if (scans.length === 0) return h('p', { class: 'help', id: 'history-empty' }, 'No scans yet.');
  const rows = scans.map((s) => {
    const t = triageWording(s.classes, s.probabilities, s.predicted);
    return h(
      'tr',
      { 'data-id': s.id },
      h('td', { 'data-label': 'When' }, new Date(s.at).toLocaleString()),
      h('td', { 'data-label': 'Image' }, s.source),
      h('td', { 'data-label': 'Model' }, `${s.model} ${s.modelVersion}`),
      h(
        'td',
        { 'data-label': 'Result' },
        `${s.classes[s.predicted]} ${pct(s.probabilities[s.predicted])}`,
        h('br', {}),
        h(
          'span',
          { class: 'help' },
          t.level === 'priority' ? 'priority review' : t.level === 'routine' ? 'routine review' : 'uncertain',
        ),
      ),
      h('td', { 'data-label': 'Verified' }, `✓ ${s.serverKid}`),
    );
  });
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { id: 'history-table' },
      h('caption', { class: 'help' }, `${scans.length} scan${scans.length === 1 ? '' : 's'}, newest first`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['When', 'Image', 'Model', 'Result', 'Signature'].map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      h('tbody', {}, ...rows),
    ),
  );
}
