/**
 * The service's persistent state, behind an interface a PostgreSQL implementation can fill later.
 * Every method is one atomic unit: an implementation runs each in a single transaction, and every
 * state change it makes appends its audit entry in that same transaction.
 *
 * Nothing here ever holds a secret key, a decrypted value or an API token in clear (tokens are
 * stored as SHA-256 hashes). Key material and stored results are public / encrypted bytes and
 * expire on schedule (`sweep`).
 */
import type { Digest } from '../../protocol/digest.ts';
import type { ErrorCode } from '../../protocol/errors.ts';
import type { KeyMaterial } from '../engine.ts';

export interface Org {
  readonly id: string;
  readonly name: string;
}

export interface ClientRecord {
  readonly id: string;
  readonly orgId: string;
  readonly modelId: string;
  readonly materialDigest: Digest;
  readonly bytes: number;
  readonly createdAt: number;
  readonly expiresAt: number;
}

export type AuditAction =
  | 'service.started'
  | 'org.created'
  | 'token.created'
  | 'client.registered'
  | 'client.deleted'
  | 'client.expired'
  | 'infer.accepted'
  | 'infer.completed'
  | 'infer.failed'
  | 'infer.interrupted'
  | 'infer.rejected';

/** One audit entry: who did what to which subject, with sizes/timings/outcome only. */
export interface AuditEntry {
  readonly seq: number;
  readonly ts: number;
  /** Organisation id, or `system`. */
  readonly actor: string;
  readonly action: AuditAction;
  /** Request id, client id or org id. */
  readonly subject: string;
  readonly modelId: string | null;
  readonly data: Readonly<Record<string, string | number | boolean | null>>;
  readonly prevHash: string;
  readonly hash: string;
}

export type AuditVerification =
  | { readonly ok: true; readonly entries: number; readonly headHash: string }
  | { readonly ok: false; readonly entries: number; readonly seq: number; readonly reason: string };

/** A response kept for idempotent replay: the exact status, signed headers and body bytes. */
export interface StoredResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

export interface AdmitRequest {
  readonly requestId: string;
  readonly orgId: string;
  readonly clientId: string;
  readonly modelId: string;
  readonly materialDigest: Digest;
  /** Idempotency key and the digest of (model, client, content type, body) it must keep naming. */
  readonly idempotency: {
    readonly key: string;
    readonly requestHash: string;
    readonly expiresAt: number;
  } | null;
  /** Ciphertexts in the request; quotas count these. */
  readonly units: number;
  readonly bytesIn: number;
  readonly now: number;
  readonly quota: { readonly windowSeconds: number; readonly perKey: number; readonly perOrg: number };
}

export type Admission =
  | { readonly kind: 'accepted' }
  | { readonly kind: 'replay'; readonly response: StoredResponse; readonly requestId: string }
  | { readonly kind: 'conflict' }
  | { readonly kind: 'in-progress' }
  | { readonly kind: 'quota'; readonly scope: 'key' | 'org'; readonly retryAfterSeconds: number };

export interface FinishRequest {
  readonly requestId: string;
  readonly outcome: 'completed' | 'failed';
  readonly code: ErrorCode | null;
  readonly now: number;
  readonly bytesOut: number;
  readonly queueMs: number;
  readonly computeMs: number;
  /** Kept for replay when the request carried an idempotency key and completed. */
  readonly response: StoredResponse | null;
}

export interface SweepResult {
  readonly clientsExpired: number;
  /** The expired clients' model and material (so the engine can drop cached keys). */
  readonly expired?: readonly { readonly modelId: string; readonly materialDigest: Digest }[];
  readonly idempotencyExpired: number;
  readonly requestsPruned: number;
}

export interface Store {
  /** Creates an organisation and its first API token; returns the token (the only time it exists in clear). */
  createOrg(name: string, now: number): Promise<{ org: Org; token: string }>;
  /** Issues another token for an organisation. */
  createToken(orgId: string, now: number): Promise<string>;
  /** The organisation a bearer token belongs to, or null. */
  orgByToken(token: string): Promise<Org | null>;
  countOrgs(): Promise<number>;

  /** Stores key material (content-addressed per organisation) and a new client bound to it. */
  registerClient(args: {
    orgId: string;
    modelId: string;
    material: KeyMaterial;
    materialDigest: Digest;
    now: number;
    expiresAt: number;
  }): Promise<ClientRecord>;
  /** A live (not deleted, not expired at `now`) client, or null. */
  getClient(clientId: string, now: number): Promise<ClientRecord | null>;
  getKeyMaterial(orgId: string, digest: Digest): Promise<KeyMaterial | null>;
  /** Deletes a client (and its material if no other client uses it); false if not found for this org. */
  deleteClient(clientId: string, orgId: string, now: number): Promise<boolean>;

  /** Idempotency check, quota check + charge, and the durable "accepted" record — atomically. */
  admitInference(req: AdmitRequest): Promise<Admission>;
  /** The one terminal outcome of an accepted request (plus its replayable response). */
  finishInference(req: FinishRequest): Promise<void>;
  /** Audits a refused request (quota, forbidden…) that was never accepted. */
  recordRejection(args: {
    orgId: string;
    clientId: string;
    modelId: string;
    code: ErrorCode;
    now: number;
  }): Promise<void>;
  /** At startup: every request left "accepted" by a crash becomes "interrupted". Returns how many. */
  recoverInterrupted(now: number): Promise<number>;
  /** Appends a free-standing audit entry (e.g. service start). */
  audit(entry: {
    actor: string;
    action: AuditAction;
    subject: string;
    modelId?: string | null;
    data?: AuditEntry['data'];
    now: number;
  }): Promise<void>;

  /** Deletes expired clients and material, expired idempotency records, old request rows. */
  sweep(now: number, keepRequestsMs: number): Promise<SweepResult>;
  auditEntries(): Promise<AuditEntry[]>;
  /** Recomputes the hash chain; detects edited, deleted, inserted or reordered entries. */
  verifyAudit(): Promise<AuditVerification>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
