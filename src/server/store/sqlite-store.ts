/**
 * The embedded default store: one SQLite file (WAL) through Node's built-in `node:sqlite`.
 * `DatabaseSync` is synchronous, so each method runs start-to-finish inside one `BEGIN IMMEDIATE`
 * transaction with nothing interleaving from the event loop; the async signatures exist for the
 * {@link Store} interface a networked database needs.
 *
 * One service process per file: `recoverInterrupted` assumes every "accepted" row is its own.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import type { Digest } from '../../protocol/digest.ts';
import type { KeyMaterial } from '../engine.ts';
import { auditHash, GENESIS_HASH, verifyChain } from './audit-chain.ts';
import type {
  Admission,
  AdmitRequest,
  AuditAction,
  AuditEntry,
  AuditVerification,
  ClientRecord,
  FinishRequest,
  Org,
  Store,
  SweepResult,
} from './store.ts';

/** The file name of the store inside the data directory. */
export const SQLITE_FILE = 'blinddx.sqlite';

const _schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orgs (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
  hash TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES orgs(id), created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS key_material (
  org_id TEXT NOT NULL, digest TEXT NOT NULL, public_key BLOB NOT NULL, relin_keys BLOB, galois_keys BLOB,
  bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (org_id, digest));
CREATE TABLE IF NOT EXISTS clients (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, model_id TEXT NOT NULL, material_digest TEXT NOT NULL,
  bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  FOREIGN KEY (org_id, material_digest) REFERENCES key_material(org_id, digest));
CREATE INDEX IF NOT EXISTS clients_expiry ON clients(expires_at);
CREATE TABLE IF NOT EXISTS requests (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, client_id TEXT NOT NULL, model_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('accepted', 'completed', 'failed', 'interrupted')),
  code TEXT, units INTEGER NOT NULL, bytes_in INTEGER NOT NULL, bytes_out INTEGER,
  accepted_at INTEGER NOT NULL, finished_at INTEGER, queue_ms INTEGER, compute_ms INTEGER);
CREATE INDEX IF NOT EXISTS requests_open ON requests(status) WHERE status = 'accepted';
CREATE TABLE IF NOT EXISTS idempotency (
  org_id TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, request_id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'done')), status INTEGER, headers TEXT, body BLOB,
  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (org_id, key));
CREATE TABLE IF NOT EXISTS quota_usage (
  scope TEXT NOT NULL, subject TEXT NOT NULL, window_start INTEGER NOT NULL, used INTEGER NOT NULL,
  PRIMARY KEY (scope, subject, window_start));
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  subject TEXT NOT NULL, model_id TEXT, data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
`;

const _schemaVersion = '1';

function _tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function _u8(v: unknown): Uint8Array | undefined {
  return v === null || v === undefined ? undefined : new Uint8Array(v as Uint8Array);
}

/** Opens (creating if needed) the store under `dataDir`. */
export function openSqliteStore(options: {
  dataDir: string;
  synchronous?: 'FULL' | 'NORMAL';
  readOnly?: boolean;
}): SqliteStore {
  return new SqliteStore(options);
}

export class SqliteStore implements Store {
  readonly file: string;
  #db: DatabaseSync;
  #closed = false;

  constructor(options: { dataDir: string; synchronous?: 'FULL' | 'NORMAL'; readOnly?: boolean }) {
    mkdirSync(options.dataDir, { recursive: true });
    this.file = join(options.dataDir, SQLITE_FILE);
    this.#db = new DatabaseSync(this.file, { readOnly: options.readOnly ?? false });
    this.#db.exec('PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;');
    if (options.readOnly !== true) {
      this.#db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${options.synchronous ?? 'FULL'};`);
      this.#tx(() => {
        this.#db.exec(_schema);
        const v = this.#db.prepare('SELECT value FROM meta WHERE key = ?').get('schema') as
          | { value: string }
          | undefined;
        if (v === undefined)
          this.#db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema', _schemaVersion);
        else if (v.value !== _schemaVersion)
          throw new Error(`store ${this.file}: schema ${v.value}, expected ${_schemaVersion}`);
      });
    }
  }

  #tx<T>(fn: () => T): T {
    if (this.#closed) throw new Error('store is closed');
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const r = fn();
      this.#db.exec('COMMIT');
      return r;
    } catch (e) {
      this.#db.exec('ROLLBACK');
      throw e;
    }
  }

  #append(e: {
    actor: string;
    action: AuditAction;
    subject: string;
    modelId?: string | null;
    data?: AuditEntry['data'];
    now: number;
  }): void {
    const head = this.#db.prepare('SELECT seq, hash FROM audit_head WHERE id = 1').get() as
      | { seq: number; hash: string }
      | undefined;
    const prevHash = head?.hash ?? GENESIS_HASH;
    const entry = {
      seq: (head?.seq ?? 0) + 1,
      ts: e.now,
      actor: e.actor,
      action: e.action,
      subject: e.subject,
      modelId: e.modelId ?? null,
      data: e.data ?? {},
    };
    const hash = auditHash(prevHash, entry);
    this.#db
      .prepare(
        'INSERT INTO audit (seq, ts, actor, action, subject, model_id, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        entry.seq,
        entry.ts,
        entry.actor,
        entry.action,
        entry.subject,
        entry.modelId,
        JSON.stringify(entry.data),
        prevHash,
        hash,
      );
    this.#db
      .prepare(
        'INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
      )
      .run(entry.seq, hash);
  }

  async createOrg(name: string, now: number): Promise<{ org: Org; token: string }> {
    const org = { id: `org_${randomBytes(8).toString('hex')}`, name };
    const token = `bdx_${randomBytes(32).toString('base64url')}`;
    this.#tx(() => {
      this.#db.prepare('INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)').run(org.id, name, now);
      this.#db
        .prepare('INSERT INTO tokens (hash, org_id, created_at) VALUES (?, ?, ?)')
        .run(_tokenHash(token), org.id, now);
      this.#append({ actor: 'system', action: 'org.created', subject: org.id, data: { name }, now });
    });
    return { org, token };
  }

  async createToken(orgId: string, now: number): Promise<string> {
    const token = `bdx_${randomBytes(32).toString('base64url')}`;
    this.#tx(() => {
      this.#db
        .prepare('INSERT INTO tokens (hash, org_id, created_at) VALUES (?, ?, ?)')
        .run(_tokenHash(token), orgId, now);
      this.#append({ actor: orgId, action: 'token.created', subject: orgId, data: {}, now });
    });
    return token;
  }

  async orgByToken(token: string): Promise<Org | null> {
    const r = this.#db
      .prepare('SELECT o.id, o.name FROM tokens t JOIN orgs o ON o.id = t.org_id WHERE t.hash = ?')
      .get(_tokenHash(token)) as { id: string; name: string } | undefined;
    return r === undefined ? null : { id: r.id, name: r.name };
  }

  async countOrgs(): Promise<number> {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM orgs').get() as { n: number }).n;
  }

  async registerClient(args: {
    orgId: string;
    modelId: string;
    material: KeyMaterial;
    materialDigest: Digest;
    now: number;
    expiresAt: number;
  }): Promise<ClientRecord> {
    const m = args.material;
    const bytes = m.publicKey.length + (m.relinKeys?.length ?? 0) + (m.galoisKeys?.length ?? 0);
    const rec: ClientRecord = {
      id: `cl_${randomBytes(16).toString('hex')}`,
      orgId: args.orgId,
      modelId: args.modelId,
      materialDigest: args.materialDigest,
      bytes,
      createdAt: args.now,
      expiresAt: args.expiresAt,
    };
    this.#tx(() => {
      this.#db
        .prepare(
          `INSERT INTO key_material (org_id, digest, public_key, relin_keys, galois_keys, bytes, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        )
        .run(
          args.orgId,
          args.materialDigest,
          m.publicKey,
          m.relinKeys ?? null,
          m.galoisKeys ?? null,
          bytes,
          args.now,
        );
      this.#db
        .prepare(
          'INSERT INTO clients (id, org_id, model_id, material_digest, bytes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .run(rec.id, rec.orgId, rec.modelId, rec.materialDigest, bytes, rec.createdAt, rec.expiresAt);
      this.#append({
        actor: args.orgId,
        action: 'client.registered',
        subject: rec.id,
        modelId: args.modelId,
        data: { materialDigest: args.materialDigest, bytes, expiresAt: args.expiresAt },
        now: args.now,
      });
    });
    return rec;
  }

  async getClient(clientId: string, now: number): Promise<ClientRecord | null> {
    const r = this.#db
      .prepare(
        'SELECT id, org_id, model_id, material_digest, bytes, created_at, expires_at FROM clients WHERE id = ? AND expires_at > ?',
      )
      .get(clientId, now) as Record<string, never> | undefined;
    if (r === undefined) return null;
    return {
      id: r.id,
      orgId: r.org_id,
      modelId: r.model_id,
      materialDigest: r.material_digest,
      bytes: r.bytes,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
    };
  }

  async getKeyMaterial(orgId: string, digest: Digest): Promise<KeyMaterial | null> {
    const r = this.#db
      .prepare('SELECT public_key, relin_keys, galois_keys FROM key_material WHERE org_id = ? AND digest = ?')
      .get(orgId, digest) as Record<string, unknown> | undefined;
    if (r === undefined) return null;
    return { publicKey: _u8(r.public_key)!, relinKeys: _u8(r.relin_keys), galoisKeys: _u8(r.galois_keys) };
  }

  #dropClient(id: string, orgId: string, digest: string): void {
    this.#db.prepare('DELETE FROM clients WHERE id = ?').run(id);
    const others = this.#db
      .prepare('SELECT COUNT(*) AS n FROM clients WHERE org_id = ? AND material_digest = ?')
      .get(orgId, digest) as { n: number };
    if (others.n === 0)
      this.#db.prepare('DELETE FROM key_material WHERE org_id = ? AND digest = ?').run(orgId, digest);
  }

  async deleteClient(clientId: string, orgId: string, now: number): Promise<boolean> {
    return this.#tx(() => {
      const r = this.#db
        .prepare('SELECT model_id, material_digest FROM clients WHERE id = ? AND org_id = ?')
        .get(clientId, orgId) as { model_id: string; material_digest: string } | undefined;
      if (r === undefined) return false;
      this.#dropClient(clientId, orgId, r.material_digest);
      this.#append({ actor: orgId, action: 'client.deleted', subject: clientId, modelId: r.model_id, now });
      return true;
    });
  }

  async admitInference(a: AdmitRequest): Promise<Admission> {
    return this.#tx((): Admission => {
      if (a.idempotency !== null) {
        const r = this.#db
          .prepare(
            'SELECT request_hash, request_id, state, status, headers, body, expires_at FROM idempotency WHERE org_id = ? AND key = ?',
          )
          .get(a.orgId, a.idempotency.key) as Record<string, never> | undefined;
        if (r !== undefined && r.expires_at <= a.now) {
          this.#db
            .prepare('DELETE FROM idempotency WHERE org_id = ? AND key = ?')
            .run(a.orgId, a.idempotency.key);
        } else if (r !== undefined) {
          if (r.request_hash !== a.idempotency.requestHash) return { kind: 'conflict' };
          if (r.state === 'pending') return { kind: 'in-progress' };
          return {
            kind: 'replay',
            requestId: r.request_id,
            response: {
              status: r.status,
              headers: JSON.parse(r.headers),
              body: _u8(r.body) ?? new Uint8Array(),
            },
          };
        }
      }
      const ws = a.quota.windowSeconds;
      const nowS = Math.floor(a.now / 1000);
      const windowStart = Math.floor(nowS / ws) * ws;
      const retryAfterSeconds = Math.max(1, windowStart + ws - nowS);
      const used = (scope: string, subject: string) =>
        (
          this.#db
            .prepare('SELECT used FROM quota_usage WHERE scope = ? AND subject = ? AND window_start = ?')
            .get(scope, subject, windowStart) as { used: number } | undefined
        )?.used ?? 0;
      if (used('key', `${a.orgId}/${a.materialDigest}`) + a.units > a.quota.perKey) {
        return { kind: 'quota', scope: 'key', retryAfterSeconds };
      }
      if (used('org', a.orgId) + a.units > a.quota.perOrg)
        return { kind: 'quota', scope: 'org', retryAfterSeconds };
      const charge = this.#db.prepare(
        `INSERT INTO quota_usage (scope, subject, window_start, used) VALUES (?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET used = used + excluded.used`,
      );
      charge.run('key', `${a.orgId}/${a.materialDigest}`, windowStart, a.units);
      charge.run('org', a.orgId, windowStart, a.units);
      this.#db
        .prepare(
          `INSERT INTO requests (id, org_id, client_id, model_id, status, units, bytes_in, accepted_at)
           VALUES (?, ?, ?, ?, 'accepted', ?, ?, ?)`,
        )
        .run(a.requestId, a.orgId, a.clientId, a.modelId, a.units, a.bytesIn, a.now);
      if (a.idempotency !== null) {
        this.#db
          .prepare(
            `INSERT INTO idempotency (org_id, key, request_hash, request_id, state, created_at, expires_at)
             VALUES (?, ?, ?, ?, 'pending', ?, ?)`,
          )
          .run(
            a.orgId,
            a.idempotency.key,
            a.idempotency.requestHash,
            a.requestId,
            a.now,
            a.idempotency.expiresAt,
          );
      }
      this.#append({
        actor: a.orgId,
        action: 'infer.accepted',
        subject: a.requestId,
        modelId: a.modelId,
        data: {
          clientId: a.clientId,
          units: a.units,
          bytesIn: a.bytesIn,
          idempotent: a.idempotency !== null,
        },
        now: a.now,
      });
      return { kind: 'accepted' };
    });
  }

  async finishInference(f: FinishRequest): Promise<void> {
    this.#tx(() => {
      const r = this.#db
        .prepare(
          "SELECT org_id, client_id, model_id, units FROM requests WHERE id = ? AND status = 'accepted'",
        )
        .get(f.requestId) as
        | { org_id: string; client_id: string; model_id: string; units: number }
        | undefined;
      if (r === undefined) throw new Error(`finishInference: request ${f.requestId} is not open`);
      this.#db
        .prepare(
          'UPDATE requests SET status = ?, code = ?, bytes_out = ?, finished_at = ?, queue_ms = ?, compute_ms = ? WHERE id = ?',
        )
        .run(f.outcome, f.code, f.bytesOut, f.now, f.queueMs, f.computeMs, f.requestId);
      if (f.outcome === 'completed' && f.response !== null) {
        this.#db
          .prepare(
            "UPDATE idempotency SET state = 'done', status = ?, headers = ?, body = ? WHERE request_id = ?",
          )
          .run(f.response.status, JSON.stringify(f.response.headers), f.response.body, f.requestId);
      } else {
        // A failed request frees its key: the retry computes, and no result was ever returned.
        this.#db.prepare('DELETE FROM idempotency WHERE request_id = ?').run(f.requestId);
      }
      this.#append({
        actor: r.org_id,
        action: f.outcome === 'completed' ? 'infer.completed' : 'infer.failed',
        subject: f.requestId,
        modelId: r.model_id,
        data: {
          clientId: r.client_id,
          units: r.units,
          code: f.code,
          bytesOut: f.bytesOut,
          queueMs: f.queueMs,
          computeMs: f.computeMs,
        },
        now: f.now,
      });
    });
  }

  async recordRejection(args: {
    orgId: string;
    clientId: string;
    modelId: string;
    code: string;
    now: number;
  }): Promise<void> {
    this.#tx(() =>
      this.#append({
        actor: args.orgId,
        action: 'infer.rejected',
        subject: args.clientId,
        modelId: args.modelId,
        data: { code: args.code },
        now: args.now,
      }),
    );
  }

  async recoverInterrupted(now: number): Promise<number> {
    return this.#tx(() => {
      const open = this.#db
        .prepare(
          "SELECT id, org_id, client_id, model_id, units FROM requests WHERE status = 'accepted' ORDER BY accepted_at",
        )
        .all() as { id: string; org_id: string; client_id: string; model_id: string; units: number }[];
      for (const r of open) {
        this.#db
          .prepare("UPDATE requests SET status = 'interrupted', finished_at = ? WHERE id = ?")
          .run(now, r.id);
        this.#db.prepare('DELETE FROM idempotency WHERE request_id = ?').run(r.id);
        this.#append({
          actor: r.org_id,
          action: 'infer.interrupted',
          subject: r.id,
          modelId: r.model_id,
          data: { clientId: r.client_id, units: r.units },
          now,
        });
      }
      return open.length;
    });
  }

  async audit(e: {
    actor: string;
    action: AuditAction;
    subject: string;
    modelId?: string | null;
    data?: AuditEntry['data'];
    now: number;
  }): Promise<void> {
    this.#tx(() => this.#append(e));
  }

  async sweep(now: number, keepRequestsMs: number): Promise<SweepResult> {
    return this.#tx(() => {
      const expired = this.#db
        .prepare('SELECT id, org_id, model_id, material_digest FROM clients WHERE expires_at <= ?')
        .all(now) as { id: string; org_id: string; model_id: string; material_digest: string }[];
      for (const c of expired) {
        this.#dropClient(c.id, c.org_id, c.material_digest);
        this.#append({ actor: 'system', action: 'client.expired', subject: c.id, modelId: c.model_id, now });
      }
      const idem = this.#db.prepare('DELETE FROM idempotency WHERE expires_at <= ?').run(now);
      const reqs = this.#db
        .prepare("DELETE FROM requests WHERE status != 'accepted' AND finished_at <= ?")
        .run(now - keepRequestsMs);
      this.#db
        .prepare('DELETE FROM quota_usage WHERE window_start < ?')
        .run(Math.floor(now / 1000) - 32 * 86400);
      return {
        clientsExpired: expired.length,
        expired: expired.map((c) => ({ modelId: c.model_id, materialDigest: c.material_digest as Digest })),
        idempotencyExpired: Number(idem.changes),
        requestsPruned: Number(reqs.changes),
      };
    });
  }

  #entries(): Iterable<AuditEntry> {
    const it = this.#db
      .prepare(
        'SELECT seq, ts, actor, action, subject, model_id, data, prev_hash, hash FROM audit ORDER BY rowid',
      )
      .iterate() as Iterable<Record<string, SQLInputValue>>;
    return (function* () {
      for (const r of it) {
        yield {
          seq: Number(r.seq),
          ts: Number(r.ts),
          actor: String(r.actor),
          action: r.action as AuditAction,
          subject: String(r.subject),
          modelId: r.model_id === null ? null : String(r.model_id),
          data: JSON.parse(String(r.data)),
          prevHash: String(r.prev_hash),
          hash: String(r.hash),
        };
      }
    })();
  }

  async auditEntries(): Promise<AuditEntry[]> {
    return [...this.#entries()];
  }

  async verifyAudit(): Promise<AuditVerification> {
    // A read transaction gives one consistent snapshot of entries and head while the service writes.
    this.#db.exec('BEGIN');
    try {
      const head = this.#db.prepare('SELECT seq, hash FROM audit_head WHERE id = 1').get() as
        | { seq: number; hash: string }
        | undefined;
      try {
        return verifyChain(this.#entries(), head ?? null);
      } catch (e) {
        return { ok: false, entries: 0, seq: 0, reason: `unreadable entry: ${(e as Error).message}` };
      }
    } finally {
      this.#db.exec('COMMIT');
    }
  }

  async ping(): Promise<void> {
    this.#db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
