import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigningKey, parsePrivateKey, publicPart } from '../../../protocol/ed25519.ts';
import { digestFiles, modelDigestOf, signModelBundle } from '../../../protocol/model-bundle.ts';
import type { CliCommand } from '../command.ts';

const usage = `usage: blinddx sign --keygen --out <name>         write <name>.key.json (private, 0600) and <name>.pub.json
       blinddx sign --key <file.key.json> <bundle-dir>  sign the bundle described by <bundle-dir>/bundle.json

A bundle directory holds bundle.json (unsigned source) and the files it names:
  { "modelId", "version", "preset", "inputLayout": {}, "preprocessing": {}, "classes": [],
    "galoisSteps": [], "needsRelinKeys": false,
    "clientFiles": ["…"],   files the client needs (e.g. a cleartext backbone)
    "serverFiles": ["…"] }  encoded weights and plan, never sent to clients
Signing writes client.json (public part, served at GET /v1/models/:id) and server.json, each an
Ed25519 signature over canonical JSON; the client part pins the server part's digest, so the model
digest printed here covers every file. The service loads bundles signed by keys in its
trustedKeyFiles (BLINDDX_TRUSTED_KEYS).`;

function _readFiles(dir: string, names: unknown, what: string): Map<string, Uint8Array> {
  if (
    !Array.isArray(names) ||
    !names.every((n) => typeof n === 'string' && /^[A-Za-z0-9._-]+$/.test(n) && !n.startsWith('.'))
  ) {
    throw new Error(`bundle.json: "${what}" must be a list of plain file names`);
  }
  return new Map(names.map((n: string) => [n, new Uint8Array(readFileSync(join(dir, n)))]));
}

/** `blinddx sign`: Ed25519 publisher keys and signed model bundles. */
export const signCommand: CliCommand = {
  name: 'sign',
  summary: 'generate a publisher key, or sign a model bundle',
  usage,
  allowPositionals: true,
  options: { keygen: { type: 'boolean' }, out: { type: 'string' }, key: { type: 'string' } },
  async run({ values, positionals }) {
    if (values.keygen === true) {
      const out = values.out as string | undefined;
      if (out === undefined) {
        console.error(`blinddx sign --keygen: "--out <name>" is required\n\n${usage}`);
        return 2;
      }
      if (existsSync(`${out}.key.json`)) {
        console.error(`blinddx sign --keygen: ${out}.key.json exists; refusing to overwrite a key`);
        return 1;
      }
      const key = await generateSigningKey();
      writeFileSync(`${out}.key.json`, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      chmodSync(`${out}.key.json`, 0o600);
      writeFileSync(`${out}.pub.json`, `${JSON.stringify(publicPart(key), null, 2)}\n`);
      console.log(`wrote ${out}.key.json (private, keep offline) and ${out}.pub.json (key id ${key.kid})`);
      return 0;
    }
    const keyFile = values.key as string | undefined;
    const [dir] = positionals;
    if (keyFile === undefined || dir === undefined || positionals.length !== 1) {
      console.error(`blinddx sign: expected --key <file> and one bundle directory\n\n${usage}`);
      return 2;
    }
    try {
      const key = await parsePrivateKey(JSON.parse(readFileSync(keyFile, 'utf8')), keyFile);
      const src = JSON.parse(readFileSync(join(dir, 'bundle.json'), 'utf8'));
      const { clientFiles, serverFiles, ...manifest } = src;
      const bundle = await signModelBundle(
        {
          client: {
            ...manifest,
            files: await digestFiles(_readFiles(dir, clientFiles ?? [], 'clientFiles')),
          },
          server: {
            modelId: manifest.modelId,
            version: manifest.version,
            preset: manifest.preset,
            files: await digestFiles(_readFiles(dir, serverFiles ?? [], 'serverFiles')),
          },
        },
        key,
      );
      writeFileSync(join(dir, 'client.json'), `${JSON.stringify(bundle.client, null, 2)}\n`);
      writeFileSync(join(dir, 'server.json'), `${JSON.stringify(bundle.server, null, 2)}\n`);
      console.log(
        `signed ${bundle.client.payload.modelId}@${bundle.client.payload.version} with key ${key.kid}\n` +
          `model digest ${await modelDigestOf(bundle.client.payload)}`,
      );
      return 0;
    } catch (e) {
      const err = e as { code?: string; message: string };
      console.error(`blinddx sign: ${err.code === undefined ? '' : `${err.code}: `}${err.message}`);
      return 1;
    }
  },
};
