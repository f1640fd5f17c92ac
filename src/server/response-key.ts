// The service's response-signing key: loaded from a file, or generated once and kept (mode 0600).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { generateSigningKey, type PrivateKeyJwk, parsePrivateKey } from '../protocol/ed25519.ts';
import { BlindDxError } from '../protocol/errors.ts';

/** Reads the private JWK at `file`; if it does not exist and `create` is set, generates it first. */
export async function loadResponseKey(
  file: string,
  create: boolean,
): Promise<{ key: PrivateKeyJwk; created: boolean }> {
  if (!existsSync(file)) {
    if (!create) throw new BlindDxError('CONFIG_INVALID', `response signing key ${file} does not exist`);
    const key = await generateSigningKey();
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
    return { key, created: true };
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new BlindDxError(
      'CONFIG_INVALID',
      `response signing key ${file} is unreadable: ${(e as Error).message}`,
    );
  }
  try {
    return { key: await parsePrivateKey(json, file), created: false };
  } catch (e) {
    throw new BlindDxError('CONFIG_INVALID', (e as Error).message);
  }
}
