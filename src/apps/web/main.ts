/**
 * The BlindDx web app: a patient or clinician picks an image and gets a result only this browser
 * can read. This file wires the page: service and trust pins, keys (made, sealed and unlocked in
 * the HE worker), the scan, the result with its step-by-step explainer, and the local history.
 *
 * What leaves the browser: the public key (once per model and key set) and one ciphertext per scan,
 * plus GETs of public documents (model list, signed bundles, the backbone, public keys). The
 * API token travels as a header. Nothing derived from a decryption is ever sent.
 */
import './polyfill.ts';
import { BlindDxClient } from '../../client/http-client.ts';
import { isImageErrorCode } from '../../client/image-errors.ts';
import { type PublicKeyJwk, parsePublicKey } from '../../protocol/ed25519.ts';
import type {
  ModelListBody,
  ModelSummary,
  PublisherKeysBody,
  ServerKeyBody,
} from '../../protocol/schemas.ts';
import { decodeImageFile, drawPreview, type PickedImage } from './image-file.ts';
import { h, type KeyFacts, kib, renderHistory, renderKeyInfo, renderResult, renderSteps } from './render.ts';
import { LocalStore, type ScanRecord, type StoredKeySet, type TrustPins } from './store.ts';
import { HeWorker } from './worker-client.ts';
import type { DiagnoseResult, StepId } from './worker-protocol.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const origin = location.origin;

const state: {
  store?: LocalStore;
  worker: HeWorker;
  models: ModelSummary[];
  pins?: TrustPins;
  token?: string;
  keys?: StoredKeySet;
  unlocked: boolean;
  keyEvent: KeyFacts['event'];
  picked?: PickedImage;
  busy: boolean;
} = { worker: new HeWorker(), models: [], unlocked: false, keyEvent: null, busy: false };

const stepNames: Record<StepId, string> = {
  keys: 'Keys',
  bundle: 'Verifying the model',
  backbone: 'Loading the backbone',
  embed: 'Analysing the image locally',
  encrypt: 'Encrypting',
  send: 'Sending',
  decrypt: 'Decrypting',
};

function setBusy(busy: boolean, text = ''): void {
  state.busy = busy;
  document.body.dataset.busy = String(busy);
  $('progress-box').hidden = !busy;
  $('progress-text').textContent = text;
  for (const id of ['create-keys', 'unlock-keys', 'diagnose', 'delete-keys', 'lock-keys', 'delete-all']) {
    ($(id) as HTMLButtonElement).disabled = busy;
  }
}

function progress(step: StepId, note: string): void {
  $('progress-text').textContent = `${stepNames[step]}: ${note}…`;
}

function showError(id: string, e: unknown): void {
  const el = $(id);
  const code = (e as { code?: string } | null)?.code;
  let msg = e instanceof Error ? e.message : String(e);
  if (code === 'VAULT_WRONG_PASSPHRASE') msg = 'Wrong passphrase: your keys stay locked. Try again.';
  else if (code === 'UNAUTHORIZED') msg = 'The service refused the API token. Check it in step 1.';
  else if (code === 'MODEL_SIGNATURE_INVALID')
    msg = `The model bundle is not signed by a publisher key this browser trusts (${msg}).`;
  else if (code === 'RESPONSE_SIGNATURE_INVALID')
    msg = `The answer's signature did not verify; the result was discarded (${msg}).`;
  else if (isImageErrorCode(code)) msg = `This image cannot be used (${code}): ${msg}`;
  el.textContent = msg;
  el.dataset.code = code ?? '';
  el.hidden = false;
}

function clearError(id: string): void {
  const el = $(id);
  el.hidden = true;
  el.textContent = '';
  delete el.dataset.code;
}

const selectedModel = (): ModelSummary | undefined =>
  state.models.find((m) => m.modelId === ($('model') as HTMLSelectElement).value);

const presetWanted = () => selectedModel()?.preset ?? state.models[0]?.preset;

function sdk(): BlindDxClient {
  return new BlindDxClient({
    baseUrl: origin,
    token: state.token ?? '-',
    trustedModelKeys: state.pins?.publisherKeys ?? [],
    serverKeys: state.pins?.serverKeys ?? [],
  });
}

async function getJson<T>(path: string): Promise<T> {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`GET ${path}: HTTP ${r.status}`);
  return (await r.json()) as T;
}

const sameKeys = (a: readonly PublicKeyJwk[], b: readonly PublicKeyJwk[]) =>
  a.map((k) => k.kid).join() === b.map((k) => k.kid).join();

/** Models, and the publisher/server keys: pinned in this browser on first use. */
async function connect(): Promise<void> {
  const store = state.store!;
  const [list, pub, srv] = await Promise.all([
    getJson<ModelListBody>('/v1/models'),
    getJson<PublisherKeysBody>('/v1/publisher-keys'),
    getJson<ServerKeyBody>('/v1/server-key'),
  ]);
  // This page runs the embedding flow only: encrypted CNNs (kind cnn / cnn-packed) are for the SDK and CLI.
  state.models = list.models.filter((m) => m.kind === undefined || m.kind === 'split-head');
  const offered: TrustPins = {
    publisherKeys: await Promise.all(pub.keys.map((k, i) => parsePublicKey(k, `publisher key ${i}`))),
    serverKeys: await Promise.all(srv.keys.map((k, i) => parsePublicKey(k, `server key ${i}`))),
    pinnedAt: new Date().toISOString(),
  };
  let pins = await store.getMeta<TrustPins>('pins');
  let firstUse = false;
  if (pins === undefined) {
    pins = offered;
    firstUse = true;
    await store.setMeta('pins', pins);
  }
  state.pins = pins;
  const changed =
    !sameKeys(pins.publisherKeys, offered.publisherKeys) || !sameKeys(pins.serverKeys, offered.serverKeys);

  const select = $('model') as HTMLSelectElement;
  select.replaceChildren(
    ...state.models.map((m) => h('option', { value: m.modelId }, `${m.modelId} — ${m.classes.join(' / ')}`)),
  );
  const last = await store.getMeta<string>('lastModel');
  if (last !== undefined && state.models.some((m) => m.modelId === last)) select.value = last;
  updateModelHelp();
  $('service-status').textContent =
    state.models.length === 0
      ? `Connected to ${origin}, but it serves no models.`
      : `Connected to ${origin}: ${state.models.length} model${state.models.length === 1 ? '' : 's'} (${state.models.map((m) => m.modelId).join(', ')}).`;
  const body = $('trust-body');
  body.replaceChildren(
    h(
      'p',
      { class: 'help' },
      firstUse
        ? 'Pinned now, on first use. Compare these key ids with the ones your provider published; from now on this browser trusts only these keys.'
        : `Pinned in this browser on ${new Date(pins.pinnedAt).toLocaleString()}.`,
    ),
    h(
      'p',
      {},
      'Model publisher: ',
      h('code', { id: 'publisher-kid' }, pins.publisherKeys.map((k) => k.kid).join(', ')),
    ),
    h(
      'p',
      {},
      'Response signing: ',
      h('code', { id: 'server-kid' }, pins.serverKeys.map((k) => k.kid).join(', ')),
    ),
    ...(changed
      ? [
          h(
            'p',
            { class: 'error', role: 'alert' },
            'The service now presents different keys than the ones pinned here. Results are verified against the pinned keys only; use “Delete everything” to trust the new keys after checking them with your provider.',
          ),
        ]
      : []),
  );
  if (changed) ($('trust') as HTMLDetailsElement).open = true;
}

function updateModelHelp(): void {
  const m = selectedModel();
  $('model-help').textContent =
    m === undefined
      ? ''
      : `Version ${m.version} · encryption ${m.preset} · model digest ${m.modelDigest.slice(0, 23)}… (checked against the signed bundle before use)`;
}

async function refreshKeys(): Promise<void> {
  const store = state.store!;
  const preset = presetWanted();
  state.keys = preset === undefined ? undefined : await store.getKeySet(preset);
  const status = $('keys-status');
  const has = state.keys !== undefined;
  $('create-form').hidden = has;
  $('unlock-form').hidden = !has || state.unlocked;
  $('lock-keys').hidden = !has || !state.unlocked;
  $('delete-keys').hidden = !has;
  $('keys-info').replaceChildren(...(has ? [renderKeyInfo(state.keys!)] : []));
  if (!has) {
    status.dataset.state = 'none';
    status.textContent = preset === undefined ? 'No model to make keys for.' : 'No keys in this browser yet.';
  } else if (state.unlocked) {
    status.dataset.state = 'unlocked';
    status.textContent = `Keys ready (${state.keys!.keySetId}). The secret key is in memory in this tab only.`;
  } else {
    status.dataset.state = 'locked';
    status.textContent = 'Keys found in this browser, locked. Enter your passphrase to use them.';
  }
}

async function refreshHistory(): Promise<void> {
  $('history-body').replaceChildren(renderHistory(await state.store!.history()));
}

async function onCreateKeys(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  clearError('keys-error');
  const a = ($('new-pass') as HTMLInputElement).value;
  const b = ($('new-pass2') as HTMLInputElement).value;
  if (a !== b) return showError('keys-error', new Error('The two passphrases differ.'));
  if (a.length < 8) return showError('keys-error', new Error('The passphrase needs at least 8 characters.'));
  const preset = presetWanted();
  if (preset === undefined) return showError('keys-error', new Error('The service serves no model.'));
  setBusy(true, 'Generating keys in a Web Worker…');
  try {
    const r = await state.worker.keygen(preset, a, progress);
    const stored: StoredKeySet = {
      preset,
      createdAt: new Date().toISOString(),
      keySetId: r.keySetId,
      secret: r.sealed,
      ringDegree: r.ringDegree,
      publicKeyBytes: r.publicKeyBytes,
      secretKeyBytes: r.secretKeyBytes,
    };
    await state.store!.putKeySet(stored);
    state.unlocked = true;
    state.keyEvent = { kind: 'created', r };
    ($('create-form') as HTMLFormElement).reset();
    await refreshKeys();
    $('keys-status').textContent +=
      ` Made in ${Math.round(r.timingsMs.context + r.timingsMs.keygen)} ms, sealed in ${Math.round(r.timingsMs.seal)} ms.`;
  } catch (e) {
    showError('keys-error', e);
  } finally {
    setBusy(false);
  }
}

async function onUnlock(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  clearError('keys-error');
  const k = state.keys;
  if (k === undefined) return;
  const input = $('pass') as HTMLInputElement;
  setBusy(true, 'Opening your sealed key…');
  try {
    const r = await state.worker.unlock(k.preset, k.secret, input.value, progress);
    state.unlocked = true;
    state.keyEvent = { kind: 'unlocked', r };
    input.value = '';
    await refreshKeys();
  } catch (e) {
    showError('keys-error', e);
    input.select();
    input.focus();
  } finally {
    setBusy(false);
  }
}

async function onLock(): Promise<void> {
  await state.worker.lock();
  state.unlocked = false;
  state.keyEvent = null;
  await refreshKeys();
}

/** Deletes this browser's client registrations on the service (public material only), best effort. */
async function forgetRegistrations(keySetId: string): Promise<void> {
  const ids = await state.store!.clientIds(keySetId);
  if (state.token === undefined) return;
  await Promise.allSettled(Object.values(ids).map((e) => sdk().deleteClient(e.clientId)));
}

async function onDeleteKeys(): Promise<void> {
  const k = state.keys;
  if (k === undefined) return;
  if (
    !confirm(
      'Delete your keys from this browser? Past results stay in the history, but no new scan can use these keys.',
    )
  )
    return;
  await forgetRegistrations(k.keySetId);
  await state.worker.lock();
  await state.store!.deleteKeySets();
  await state.store!.deleteMeta(`clientIds:${k.keySetId}`);
  state.unlocked = false;
  state.keyEvent = null;
  await refreshKeys();
}

async function onFile(): Promise<void> {
  clearError('scan-error');
  const file = ($('file') as HTMLInputElement).files?.[0];
  state.picked = undefined;
  $('preview-box').hidden = true;
  if (file === undefined) return;
  try {
    const p = await decodeImageFile(file);
    state.picked = p;
    drawPreview($('preview') as HTMLCanvasElement, p.image);
    $('preview-caption').textContent =
      `${p.name} · ${p.image.width}×${p.image.height} · ${p.kind === 'dicom' ? 'DICOM' : 'image'} · ${kib(p.bytes)} — decoded in this browser, never uploaded.`;
    $('preview-box').hidden = false;
  } catch (e) {
    showError('scan-error', e);
  }
}

async function onDiagnose(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  clearError('scan-error');
  const model = selectedModel();
  if (state.token === undefined)
    return showError('scan-error', new Error('Save the organisation API token first (step 1).'));
  if (state.keys === undefined || !state.unlocked)
    return showError('scan-error', new Error('Generate or unlock your keys first (step 2).'));
  if (model === undefined) return showError('scan-error', new Error('Choose a model.'));
  if (state.picked === undefined) return showError('scan-error', new Error('Choose an image.'));
  const keys = state.keys;
  const picked = state.picked;
  setBusy(true, 'Starting…');
  let r: DiagnoseResult;
  try {
    r = await state.worker.diagnose(
      {
        baseUrl: origin,
        token: state.token,
        modelId: model.modelId,
        publisherKeys: state.pins!.publisherKeys,
        serverKeys: state.pins!.serverKeys,
        image: picked.image,
        clientIds: await state.store!.clientIds(keys.keySetId),
      },
      progress,
    );
  } catch (e) {
    showError('scan-error', e);
    setBusy(false);
    return;
  }
  try {
    if (r.registered !== null) await state.store!.setClientId(keys.keySetId, r.modelId, r.registered);
    const rec: ScanRecord = {
      id: r.requestId ?? crypto.randomUUID(),
      at: new Date().toISOString(),
      source: picked.name,
      model: r.modelId,
      modelVersion: r.version,
      modelDigest: r.modelDigest,
      classes: r.classes,
      probabilities: r.probabilities,
      predicted: r.predicted,
      signatureVerified: true,
      serverKid: r.signature.serverKid,
      requestId: r.requestId,
      keySetId: keys.keySetId,
      timingsMs: Object.fromEntries(
        Object.entries(r.timingsMs).map(([k, v]) => [k, Math.round(v * 10) / 10]),
      ),
      bytes: r.bytes,
    };
    await state.store!.addScan(rec);
    $('result-body').replaceChildren(renderResult(r, picked.name));
    $('result').hidden = false;
    $('steps-list').replaceChildren(
      ...renderSteps(
        r,
        { stored: keys, event: state.keyEvent },
        state.pins!.publisherKeys.map((k) => k.kid),
      ),
    );
    $('steps').hidden = false;
    await refreshHistory();
    $('result').focus();
  } finally {
    setBusy(false);
  }
}

async function onExport(): Promise<void> {
  const scans = await state.store!.history();
  const doc = {
    format: 'blinddx.scan-history/1',
    exportedAt: new Date().toISOString(),
    service: origin,
    note: 'AI is triage support, not a diagnosis. Decrypted in the browser; images are not stored.',
    scans,
  };
  const url = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: 'application/json' }));
  const a = h('a', { href: url, download: `blinddx-history-${doc.exportedAt.slice(0, 10)}.json` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function onDeleteHistory(): Promise<void> {
  if (!confirm('Delete the scan history stored in this browser?')) return;
  await state.store!.deleteHistory();
  await refreshHistory();
}

async function onDeleteAll(): Promise<void> {
  if (!confirm('Delete everything BlindDx stored in this browser: keys, history, token and pinned keys?'))
    return;
  for (const k of await state.store!.listKeySets()) await forgetRegistrations(k.keySetId);
  await state.worker.lock();
  await state.store!.clearAll();
  state.unlocked = false;
  state.keyEvent = null;
  state.token = undefined;
  ($('token') as HTMLInputElement).value = '';
  $('result').hidden = true;
  $('steps').hidden = true;
  await connect();
  await refreshKeys();
  await refreshHistory();
}

function on<E extends Event>(id: string, type: string, f: (e: E) => Promise<void>): void {
  $(id).addEventListener(type, (e) => {
    f(e as E).catch((err) => showError(id === 'token-form' ? 'keys-error' : 'scan-error', err));
  });
}

async function start(): Promise<void> {
  state.store = await LocalStore.open();
  state.token = await state.store.getMeta<string>('token');
  if (state.token !== undefined) ($('token') as HTMLInputElement).value = state.token;
  try {
    await connect();
  } catch (e) {
    $('service-status').textContent = `Cannot reach the service at ${origin}: ${(e as Error).message}`;
  }
  await refreshKeys();
  await refreshHistory();

  on<SubmitEvent>('token-form', 'submit', async (e) => {
    e.preventDefault();
    const v = ($('token') as HTMLInputElement).value.trim();
    state.token = v;
    await state.store!.setMeta('token', v);
    $('service-status').textContent =
      `${$('service-status').textContent?.replace(/ Token saved\.$/, '')} Token saved.`;
  });
  on<SubmitEvent>('create-form', 'submit', onCreateKeys);
  on<SubmitEvent>('unlock-form', 'submit', onUnlock);
  on('lock-keys', 'click', onLock);
  on('delete-keys', 'click', onDeleteKeys);
  on('model', 'change', async () => {
    updateModelHelp();
    await state.store!.setMeta('lastModel', ($('model') as HTMLSelectElement).value);
    await refreshKeys();
  });
  on('file', 'change', onFile);
  on<SubmitEvent>('scan-form', 'submit', onDiagnose);
  on('export-history', 'click', onExport);
  on('delete-history', 'click', onDeleteHistory);
  on('delete-all', 'click', onDeleteAll);
  document.body.dataset.ready = 'true';
}

start().catch((e) => {
  $('service-status').textContent = `The app could not start: ${(e as Error).message}`;
});
