import { readFileSync } from 'node:fs';
import { sealSecret } from '../../../client/key-vault.ts';
import { blinddxHome, saveKeys } from '../../../client/node/key-store.node.ts';
import { HeContext } from '../../../he/context.ts';
import { generateKeys, materialSizes } from '../../../he/keys.ts';
import { getPreset } from '../../../he/presets.ts';
import type { CliCommand } from '../command.ts';

const usage = `usage: blinddx keygen [--preset ckks-8192-coeff] [--passphrase-file F] [--galois-steps 1,2,4] [--relin]

Generates a key set on this machine and stores it under $BLINDDX_HOME (default ~/.blinddx)/keys/.
The secret key is sealed with your passphrase (PBKDF2-SHA-256, 600,000 iterations → AES-256-GCM);
it never leaves this machine. The passphrase comes from --passphrase-file or $BLINDDX_PASSPHRASE.

options:
  --preset <name>          parameter preset (default ckks-8192-coeff: the rotation-free head)
  --passphrase-file <f>    file whose first line is the passphrase
  --galois-steps <list>    rotation steps a model needs (default none)
  --relin                  also make relinearization keys`;

/** Reads the passphrase from a file or the environment (never from argv, which `ps` shows). */
export function readPassphrase(file: string | undefined): string | undefined {
  if (file !== undefined) return readFileSync(file, 'utf8').split(/\r?\n/)[0];
  return process.env.BLINDDX_PASSPHRASE;
}

/** `blinddx keygen`: make and store a passphrase-sealed key set. */
export const keygenCommand: CliCommand = {
  name: 'keygen',
  summary: 'generate keys locally; the secret key is sealed with a passphrase',
  usage,
  options: {
    preset: { type: 'string' },
    'passphrase-file': { type: 'string' },
    'galois-steps': { type: 'string' },
    relin: { type: 'boolean' },
  },
  async run({ values }) {
    const preset = (values.preset as string | undefined) ?? 'ckks-8192-coeff';
    getPreset(preset);
    const passphrase = readPassphrase(values['passphrase-file'] as string | undefined);
    if (passphrase === undefined) {
      console.error('blinddx keygen: give a passphrase with --passphrase-file or $BLINDDX_PASSPHRASE');
      return 2;
    }
    const steps = ((values['galois-steps'] as string | undefined) ?? '')
      .split(',')
      .filter(Boolean)
      .map(Number);
    const relin = values.relin === true;
    const t = performance.now();
    using ctx = await HeContext.create(preset);
    using keys = generateKeys(ctx, { relin, galoisSteps: steps });
    const sizes = materialSizes(keys.exportPublic());
    const secret = await sealSecret(keys.exportSecretKey(), passphrase, preset);
    const path = saveKeys({
      preset,
      createdAt: new Date().toISOString(),
      secret,
      galoisSteps: keys.galoisSteps,
      relin,
    });
    console.log(`keys for ${preset} made in ${(performance.now() - t).toFixed(0)} ms → ${path}`);
    console.log(
      `  public key ${sizes.publicKey} B · relinearization keys ${sizes.relinKeys} B · Galois keys ${sizes.galoisKeys} B (seeded, uncompressed)`,
    );
    console.log(`  the secret key is sealed with your passphrase; home: ${blinddxHome()}`);
    return 0;
  },
};
