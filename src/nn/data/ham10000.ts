import { NnError } from '../errors.ts';

/** hmnist label id of each HAM10000 `dx` code (hmnist order: 0 akiec … 6 mel). */
export const HMNIST_DX_LABEL: Readonly<Record<string, number>> = Object.freeze({
  akiec: 0,
  bcc: 1,
  bkl: 2,
  df: 3,
  nv: 4,
  vasc: 5,
  mel: 6,
});

/** One metadata row of `HAM10000_metadata.csv` (only the fields the split needs). */
export interface Ham10000Meta {
  readonly lesionId: string;
  readonly imageId: string;
  readonly dx: string;
}

/** Parses `HAM10000_metadata.csv` (header `lesion_id,image_id,dx,…`), in file order. */
export function parseHam10000Metadata(text: string): Ham10000Meta[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const head = lines[0]?.split(',') ?? [];
  const col = (name: string) => {
    const i = head.indexOf(name);
    if (i < 0) throw new NnError('NN_DATA_FORMAT', `parseHam10000Metadata: no "${name}" column`);
    return i;
  };
  const [li, ii, di] = [col('lesion_id'), col('image_id'), col('dx')];
  return lines.slice(1).map((l, r) => {
    const c = l.split(',');
    const dx = c[di];
    if (!(dx in HMNIST_DX_LABEL))
      throw new NnError('NN_DATA_FORMAT', `parseHam10000Metadata: row ${r}: unknown dx "${dx}"`);
    return { lesionId: c[li], imageId: c[ii], dx };
  });
}

/**
 * The lesion id of every hmnist row, after checking that the rows are the metadata rows in file
 * order: the hmnist label of row r must equal the label of metadata row r's `dx`, for every r.
 * (The hmnist CSV carries no image_id; its label sequence matches the metadata's dx sequence in file
 * order on all 10,015 rows — including the isolated single rows that break the dx runs — and not in
 * image_id order. Images of one lesion are also closer in pixel space than random same-dx pairs.)
 * Throws `NN_DATA_FORMAT` on any mismatch, naming the first row, so a re-ordered file is refused.
 */
export function alignHmnistToMetadata(labels: ArrayLike<number>, meta: readonly Ham10000Meta[]): string[] {
  if (labels.length !== meta.length) {
    throw new NnError(
      'NN_DATA_FORMAT',
      `alignHmnistToMetadata: ${labels.length} hmnist rows but ${meta.length} metadata rows`,
    );
  }
  for (let r = 0; r < meta.length; r++) {
    if (HMNIST_DX_LABEL[meta[r].dx] !== labels[r]) {
      throw new NnError(
        'NN_DATA_FORMAT',
        `alignHmnistToMetadata: row ${r}: hmnist label ${labels[r]} but metadata dx "${meta[r].dx}" — row order differs, no lesion-level split`,
      );
    }
  }
  return meta.map((m) => m.lesionId);
}
