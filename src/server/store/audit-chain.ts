/**
 * The audit log's hash chain. Entry n's hash is SHA-256 over entry n-1's hash and the canonical JSON
 * of entry n's fields (including its sequence number), so editing, deleting, inserting or reordering
 * any entry changes every later hash. A store also keeps the head (last seq + hash) so truncating
 * the tail is detected; anchoring the head outside the database (`blinddx audit verify` prints it)
 * protects against an attacker who rewrites the whole file.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../protocol/canonical-json.ts';
import type { AuditEntry, AuditVerification } from './store.ts';

export const GENESIS_HASH = '0'.repeat(64);

/** The hash of an entry given its predecessor's hash. */
export function auditHash(prevHash: string, e: Omit<AuditEntry, 'hash' | 'prevHash'>): string {
  const body = canonicalJson({
    seq: e.seq,
    ts: e.ts,
    actor: e.actor,
    action: e.action,
    subject: e.subject,
    modelId: e.modelId,
    data: e.data,
  });
  return createHash('sha256').update(`${prevHash}\n${body}`).digest('hex');
}

/** Verifies a sequence of entries (in stored order) and the stored head. */
export function verifyChain(
  entries: Iterable<AuditEntry>,
  head: { seq: number; hash: string } | null,
): AuditVerification {
  let prev = GENESIS_HASH;
  let n = 0;
  let last = 0;
  for (const e of entries) {
    n++;
    if (e.seq !== last + 1) {
      return {
        ok: false,
        entries: n,
        seq: e.seq,
        reason: `sequence jumps from ${last} to ${e.seq} (entry deleted or reordered)`,
      };
    }
    if (e.prevHash !== prev) {
      return {
        ok: false,
        entries: n,
        seq: e.seq,
        reason: 'previous-hash link broken (entry deleted, inserted or reordered)',
      };
    }
    if (auditHash(prev, e) !== e.hash) {
      return {
        ok: false,
        entries: n,
        seq: e.seq,
        reason: 'entry hash does not match its contents (entry edited)',
      };
    }
    prev = e.hash;
    last = e.seq;
  }
  if (head === null ? last !== 0 : head.seq !== last || head.hash !== prev) {
    return {
      ok: false,
      entries: n,
      seq: last,
      reason: `stored head (${head?.seq ?? 0}) does not match the last entry (${last}): entries were truncated or appended outside the store`,
    };
  }
  return { ok: true, entries: n, headHash: prev };
}
