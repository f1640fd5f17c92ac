import { openSqliteStore } from '../../../server/store/sqlite-store.ts';
import type { CliCommand } from '../command.ts';

const usage = `usage: blinddx org create <name> [--data-dir <dir>]

Creates an organisation in the service's store (default data dir: $BLINDDX_DATA_DIR or .data) and
prints its API token once; only the token's SHA-256 is stored. Use it as
"Authorization: Bearer <token>". (On its first start the service creates an organisation "dev"
the same way and prints its token; set BLINDDX_DEV_ORG=false to skip that.)`;

/** `blinddx org create`: organisations and API tokens. */
export const orgCommand: CliCommand = {
  name: 'org',
  summary: 'create an organisation and print its API token',
  usage,
  allowPositionals: true,
  options: { 'data-dir': { type: 'string' } },
  async run({ values, positionals }) {
    const [sub, name] = positionals;
    if (sub !== 'create' || name === undefined || positionals.length !== 2) {
      console.error(usage);
      return 2;
    }
    const dataDir = (values['data-dir'] as string | undefined) ?? process.env.BLINDDX_DATA_DIR ?? '.data';
    const store = openSqliteStore({ dataDir });
    try {
      const { org, token } = await store.createOrg(name, Date.now());
      console.log(`created organisation ${name} (${org.id}); API token (shown only now):\n${token}`);
      return 0;
    } catch (e) {
      console.error(`blinddx org create: ${(e as Error).message}`);
      return 1;
    } finally {
      await store.close();
    }
  },
};
