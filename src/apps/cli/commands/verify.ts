import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePublicKey } from '../../../protocol/ed25519.ts';
import { verifyClientBundle, verifyModelBundle } from '../../../protocol/model-bundle.ts';
import type { CliCommand } from '../command.ts';

const usage = `usage: blinddx verify --trusted <pub.json>[,<pub.json>…] [--client-only] <bundle-dir>

Checks a signed model bundle the way the service does at load: both Ed25519 signatures by a
trusted publisher key, the client part naming this server part, and every file matching its
signed digest. --client-only checks client.json alone, as a client does. Exit status 1 with the
error code (MODEL_SIGNATURE_INVALID, MODEL_BUNDLE_MISMATCH) when anything is off.`;

/** `blinddx verify`: verify a signed model bundle. */
export const verifyCommand: CliCommand = {
  name: 'verify',
  summary: 'verify a signed model bundle (signatures, parts, file digests)',
  usage,
  allowPositionals: true,
  options: { trusted: { type: 'string' }, 'client-only': { type: 'boolean' } },
  async run({ values, positionals }) {
    const trustedArg = values.trusted as string | undefined;
    if (trustedArg === undefined || positionals.length !== 1) {
      console.error(`blinddx verify: expected --trusted <files> and one bundle directory\n\n${usage}`);
      return 2;
    }
    const dir = positionals[0];
    try {
      const trusted = await Promise.all(
        trustedArg.split(',').map(async (f) => parsePublicKey(JSON.parse(readFileSync(f, 'utf8')), f)),
      );
      const client = JSON.parse(readFileSync(join(dir, 'client.json'), 'utf8'));
      if (values['client-only'] === true) {
        const v = await verifyClientBundle(client, trusted);
        console.log(
          `ok: client part of ${v.manifest.modelId}@${v.manifest.version}, model digest ${v.modelDigest}`,
        );
        return 0;
      }
      const server = JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8'));
      const files = new Map<string, Uint8Array>();
      for (const name of Object.keys(server?.payload?.files ?? {})) {
        if (/^[A-Za-z0-9._-]+$/.test(name) && !name.startsWith('.') && existsSync(join(dir, name))) {
          files.set(name, new Uint8Array(readFileSync(join(dir, name))));
        }
      }
      const v = await verifyModelBundle({ client, server }, trusted, files);
      console.log(
        `ok: ${v.client.modelId}@${v.client.version} (${Object.keys(v.server.files).length} server files), model digest ${v.modelDigest}`,
      );
      return 0;
    } catch (e) {
      const err = e as { code?: string; message: string };
      console.error(`blinddx verify: ${err.code === undefined ? '' : `${err.code}: `}${err.message}`);
      return 1;
    }
  },
};
