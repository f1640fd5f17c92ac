import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type DiagnoseReport, diagnoseImage } from '../../../client/node/diagnose.node.ts';
import { type PublicKeyJwk, parsePublicKey } from '../../../protocol/ed25519.ts';
import { type CliCommand, failureLine } from '../command.ts';
import { readPassphrase } from './keygen.ts';

const usage = `usage: blinddx diagnose <image> --server URL [--model pneumoniamnist] [--token T] [options]

Diagnoses one image with a model the server runs, under homomorphic encryption: the backbone runs
here, only the encrypted embedding is sent, and only this machine can read the result. The model
bundle's signature and the server's response signature are both verified.

<image>   a PNG/JPEG file, a DICOM file (uncompressed monochrome, 8/16-bit), or a dataset entry
          such as pneumoniamnist:test:12; at most 16384 pixels per side, 2^28 samples and 1 GiB.
          An image that cannot be used stops the run before any request, with exit 1 and
          BAD_IMAGE, UNSUPPORTED_IMAGE or IMAGE_TOO_LARGE

options:
  --server <url>          the BlindDx service
  --model <id>            model id on the server (default pneumoniamnist)
  --token <t>             organisation API token (default $BLINDDX_TOKEN)
  --trust <file>          publisher public key (JWK) whose model signatures you trust; repeatable.
                          Default: $BLINDDX_TRUSTED_KEYS (comma-separated files), else the demo
                          publisher key of a local \`npm start\` (.data/demo-publisher.pub.json)
  --backbone <file>       the model's backbone.onnx (default: models/<id>/, .data/demo-models/<id>/);
                          used only if it matches the digest in the signed bundle
  --passphrase-file <f>   passphrase of your local keys (default $BLINDDX_PASSPHRASE); keys are made
                          and sealed on first use
  --json                  print the report as JSON

Keys, registered client ids and scan history live under $BLINDDX_HOME (default ~/.blinddx).`;

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const ms = (n: number) => `${n.toFixed(n < 10 ? 1 : 0)} ms`;

/**
 * The publisher keys to trust: `--trust` files, else $BLINDDX_TRUSTED_KEYS, else the demo publisher key
 * of a local `npm start` (with a note saying so). Shared by `diagnose` and `tiles --server`.
 */
export async function trustedPublisherKeys(
  files: readonly string[],
): Promise<{ keys: PublicKeyJwk[]; note?: string }> {
  let list = [...files];
  let note: string | undefined;
  if (list.length === 0 && process.env.BLINDDX_TRUSTED_KEYS)
    list = process.env.BLINDDX_TRUSTED_KEYS.split(',').filter(Boolean);
  if (list.length === 0) {
    const demo = resolve('.data', 'demo-publisher.pub.json');
    if (existsSync(demo)) {
      list = [demo];
      note = `trusting the local demo publisher key ${demo}`;
    }
  }
  const keys = await Promise.all(list.map((f) => parsePublicKey(JSON.parse(readFileSync(f, 'utf8')), f)));
  return { keys, ...(note === undefined ? {} : { note }) };
}

function _print(r: DiagnoseReport): void {
  console.log(
    `BlindDx diagnosis — ${r.source}${r.truth === undefined ? '' : ` (dataset label: ${r.truth})`}`,
  );
  console.log(`model ${r.modelId} ${r.version}`);
  const w = Math.max(...r.classes.map((c) => c.length));
  r.classes.forEach((c, i) => {
    const p = r.probabilities[i];
    console.log(
      `  ${c.padEnd(w)}  ${(100 * p).toFixed(2).padStart(6)}%  p=${p.toFixed(8)}${i === r.predicted ? '  ◀' : ''}`,
    );
  });
  console.log('AI is triage support, not a diagnosis: a qualified clinician must review the image.');
  console.log(`model digest      ${r.modelDigest} (bundle signature verified)`);
  console.log(
    `response          signature verified (server key ${r.signature.serverKeys.join(', ')}), signed ${r.signature.signedAt}`,
  );
  const t = r.timingsMs;
  console.log(
    `timings           keys ${ms(t.keys)} · backbone ${ms(t.embed)} · encrypt ${ms(t.encrypt)} · register ${ms(t.register)} · round trip ${ms(t.roundTrip)} · decrypt ${ms(t.decrypt)} · total ${ms(t.total)}`,
  );
  console.log(
    `bytes             up ${kib(r.bytes.up)} · down ${kib(r.bytes.down)}${r.bytes.keyUpload > 0 ? ` · public key uploaded once ${kib(r.bytes.keyUpload)}` : ' · key already registered'}`,
  );
  if (r.keysCreated) console.log('keys              made and sealed with your passphrase on this first use');
  console.log(`recorded in       ${r.historyPath}`);
}

/** `blinddx diagnose`: one image through the encrypted embedding flow against a server. */
export const diagnoseCommand: CliCommand = {
  name: 'diagnose',
  summary: 'diagnose an image with a server model under encryption (only you can read the result)',
  usage,
  allowPositionals: true,
  options: {
    server: { type: 'string' },
    model: { type: 'string' },
    token: { type: 'string' },
    trust: { type: 'string', multiple: true },
    backbone: { type: 'string' },
    'passphrase-file': { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ values, positionals }) {
    const image = positionals[0];
    const server = values.server as string | undefined;
    const token = (values.token as string | undefined) ?? process.env.BLINDDX_TOKEN;
    if (image === undefined || positionals.length > 1 || server === undefined) {
      console.error(`blinddx diagnose: one <image> and --server are required\n\n${usage}`);
      return 2;
    }
    if (token === undefined) {
      console.error('blinddx diagnose: give the organisation token with --token or $BLINDDX_TOKEN');
      return 2;
    }
    const passphrase = readPassphrase(values['passphrase-file'] as string | undefined);
    if (passphrase === undefined) {
      console.error('blinddx diagnose: give a passphrase with --passphrase-file or $BLINDDX_PASSPHRASE');
      return 2;
    }
    const modelId = (values.model as string | undefined) ?? 'pneumoniamnist';
    const trusted = await trustedPublisherKeys((values.trust as string[] | undefined) ?? []);
    if (trusted.keys.length === 0) {
      console.error('blinddx diagnose: no trusted publisher key; pass --trust <publisher.pub.json>');
      return 2;
    }
    if (trusted.note !== undefined && values.json !== true) console.error(`note: ${trusted.note}`);
    const backbone = values.backbone as string | undefined;
    let report: DiagnoseReport;
    try {
      report = await diagnoseImage({
        server,
        token,
        modelId,
        image,
        trustedModelKeys: trusted.keys,
        passphrase,
        backboneCandidates: (file) =>
          backbone !== undefined
            ? [backbone]
            : [join('models', modelId, file), join('.data', 'demo-models', modelId, file)],
      });
    } catch (e) {
      console.error(failureLine('diagnose', e));
      return 1;
    }
    if (values.json === true) console.log(JSON.stringify(report, null, 2));
    else _print(report);
    return 0;
  },
};
