/**
 * What the web app keeps in this browser (IndexedDB `blinddx`): the sealed key sets, the scan
 * history, and small settings (API token, pinned publisher/server keys, client ids per key set).
 * The secret key is stored only sealed with the passphrase (`client/key-vault.ts`); images are never
 * stored.
 */
import type { SealedSecret } from '../../client/key-vault.ts';
import type { PublicKeyJwk } from '../../protocol/ed25519.ts';
import type { ClientIdEntry } from './worker-protocol.ts';

export interface StoredKeySet {
  readonly preset: string;
  readonly createdAt: string;
  readonly keySetId: string;
  readonly secret: SealedSecret;
  readonly ringDegree: number;
  readonly publicKeyBytes: number;
  readonly secretKeyBytes: number;
}

/** One scan as kept locally; decoded results stay in this browser. */
export interface ScanRecord {
  readonly id: string;
  readonly at: string;
  readonly source: string;
  readonly model: string;
  readonly modelVersion: string;
  readonly modelDigest: string;
  readonly classes: readonly string[];
  readonly probabilities: readonly number[];
  readonly predicted: number;
  readonly signatureVerified: true;
  readonly serverKid: string;
  readonly requestId: string | null;
  readonly keySetId: string;
  readonly timingsMs: Readonly<Record<string, number>>;
  readonly bytes: { readonly up: number; readonly down: number; readonly keyUpload: number };
}

export interface TrustPins {
  readonly publisherKeys: readonly PublicKeyJwk[];
  readonly serverKeys: readonly PublicKeyJwk[];
  readonly pinnedAt: string;
}

const DB = 'blinddx';
const VERSION = 1;
const KEYS = 'keys';
const HISTORY = 'history';
const META = 'meta';

function _req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

export class LocalStore {
  readonly #db: IDBDatabase;
  private constructor(db: IDBDatabase) {
    this.#db = db;
  }

  static async open(): Promise<LocalStore> {
    const open = indexedDB.open(DB, VERSION);
    open.onupgradeneeded = () => {
      const db = open.result;
      if (!db.objectStoreNames.contains(KEYS)) db.createObjectStore(KEYS, { keyPath: 'preset' });
      if (!db.objectStoreNames.contains(HISTORY)) db.createObjectStore(HISTORY, { keyPath: 'id' });
      if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
    };
    return new LocalStore(await _req(open));
  }

  async #run<T>(
    store: string,
    mode: IDBTransactionMode,
    f: (s: IDBObjectStore) => IDBRequest<T>,
  ): Promise<T> {
    const tx = this.#db.transaction(store, mode);
    const done = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
    const [result] = await Promise.all([_req(f(tx.objectStore(store))), done]);
    return result;
  }

  getKeySet(preset: string): Promise<StoredKeySet | undefined> {
    return this.#run(KEYS, 'readonly', (s) => s.get(preset) as IDBRequest<StoredKeySet | undefined>);
  }
  async putKeySet(k: StoredKeySet): Promise<void> {
    await this.#run(KEYS, 'readwrite', (s) => s.put(k));
  }
  listKeySets(): Promise<StoredKeySet[]> {
    return this.#run(KEYS, 'readonly', (s) => s.getAll() as IDBRequest<StoredKeySet[]>);
  }
  async deleteKeySets(): Promise<void> {
    await this.#run(KEYS, 'readwrite', (s) => s.clear());
  }

  async addScan(r: ScanRecord): Promise<void> {
    await this.#run(HISTORY, 'readwrite', (s) => s.put(r));
  }
  async history(): Promise<ScanRecord[]> {
    const all = await this.#run(HISTORY, 'readonly', (s) => s.getAll() as IDBRequest<ScanRecord[]>);
    return all.sort((a, b) => (a.at < b.at ? 1 : -1));
  }
  async deleteHistory(): Promise<void> {
    await this.#run(HISTORY, 'readwrite', (s) => s.clear());
  }

  async getMeta<T>(key: string): Promise<T | undefined> {
    return this.#run(META, 'readonly', (s) => s.get(key) as IDBRequest<T | undefined>);
  }
  async setMeta(key: string, value: unknown): Promise<void> {
    await this.#run(META, 'readwrite', (s) => s.put(value, key));
  }
  async deleteMeta(key: string): Promise<void> {
    await this.#run(META, 'readwrite', (s) => s.delete(key));
  }

  /** Client ids registered under a key set, by model id (expired ones dropped). */
  async clientIds(keySetId: string): Promise<Record<string, ClientIdEntry>> {
    const all = (await this.getMeta<Record<string, ClientIdEntry>>(`clientIds:${keySetId}`)) ?? {};
    const now = Date.now();
    return Object.fromEntries(Object.entries(all).filter(([, e]) => Date.parse(e.expiresAt) > now));
  }
  async setClientId(keySetId: string, modelId: string, entry: ClientIdEntry): Promise<void> {
    const all = (await this.getMeta<Record<string, ClientIdEntry>>(`clientIds:${keySetId}`)) ?? {};
    await this.setMeta(`clientIds:${keySetId}`, { ...all, [modelId]: entry });
  }

  /** Deletes everything this app stored: keys, history, settings. */
  async clearAll(): Promise<void> {
    for (const s of [KEYS, HISTORY, META]) await this.#run(s, 'readwrite', (st) => st.clear());
  }
}
