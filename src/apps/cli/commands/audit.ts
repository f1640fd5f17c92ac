import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openSqliteStore, SQLITE_FILE } from '../../../server/store/sqlite-store.ts';
import type { CliCommand } from '../command.ts';

const usage = `usage: blinddx audit verify [--data-dir <dir>] [--expect-head <hash>]

Recomputes the service's hash-chained audit log (default data dir: $BLINDDX_DATA_DIR or .data)
and reports the first edited, deleted, inserted or reordered entry. Prints the head hash: record it
somewhere the service cannot write, and pass it back with --expect-head to also catch a rewrite
of the whole log. Safe to run while the service is up (reads one consistent snapshot).`;

/** `blinddx audit verify`: check the audit log's hash chain. */
export const auditCommand: CliCommand = {
  name: 'audit',
  summary: "verify the service's hash-chained audit log",
  usage,
  allowPositionals: true,
  options: { 'data-dir': { type: 'string' }, 'expect-head': { type: 'string' } },
  async run({ values, positionals }) {
    if (positionals.length !== 1 || positionals[0] !== 'verify') {
      console.error(usage);
      return 2;
    }
    const dataDir = (values['data-dir'] as string | undefined) ?? process.env.BLINDDX_DATA_DIR ?? '.data';
    if (!existsSync(join(dataDir, SQLITE_FILE))) {
      console.error(`blinddx audit verify: no store at ${join(dataDir, SQLITE_FILE)}`);
      return 1;
    }
    const store = openSqliteStore({ dataDir, readOnly: true });
    try {
      const v = await store.verifyAudit();
      if (!v.ok) {
        console.error(`audit log BROKEN at entry ${v.seq} (after ${v.entries} entries checked): ${v.reason}`);
        return 1;
      }
      const expected = values['expect-head'] as string | undefined;
      if (expected !== undefined && expected !== v.headHash) {
        // The expected head must be an entry the chain still contains.
        const entries = await store.auditEntries();
        if (!entries.some((e) => e.hash === expected)) {
          console.error(
            `audit log BROKEN: the expected head ${expected} is not in the chain (log rewritten)`,
          );
          return 1;
        }
      }
      console.log(`audit log ok: ${v.entries} entries, head ${v.headHash}`);
      return 0;
    } finally {
      await store.close();
    }
  },
};
