import { readHistory } from '../../../client/node/key-store.node.ts';
import type { CliCommand } from '../command.ts';

const usage = `usage: blinddx history [--json]

Lists the scans kept on this machine ($BLINDDX_HOME/history, one JSON file per scan). Results are
decrypted locally and stored only here.`;

/** `blinddx history`: local scan history. */
export const historyCommand: CliCommand = {
  name: 'history',
  summary: 'list the scans kept locally',
  usage,
  options: { json: { type: 'boolean' } },
  async run({ values }) {
    const scans = readHistory();
    if (values.json === true) {
      console.log(JSON.stringify(scans, null, 2));
      return 0;
    }
    if (scans.length === 0) {
      console.log('no scans yet (blinddx diagnose records them)');
      return 0;
    }
    for (const s of scans) {
      let best = 0;
      s.probabilities.forEach((p, i) => {
        if (p > s.probabilities[best]) best = i;
      });
      console.log(
        `${s.at}  ${s.model.padEnd(16)} ${s.classes[best]} ${(100 * s.probabilities[best]).toFixed(1)}%  ${s.source}  model ${s.modelDigest.slice(0, 12)}`,
      );
    }
    return 0;
  },
};
