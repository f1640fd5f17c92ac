import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NnError } from '../errors.ts';
import { alignHmnistToMetadata, parseHam10000Metadata } from './ham10000.ts';

const csv = `lesion_id,image_id,dx,dx_type,age,sex,localization
HAM_1,ISIC_3,bkl,histo,80.0,male,scalp
HAM_1,ISIC_1,bkl,histo,80.0,male,scalp
HAM_2,ISIC_2,nv,histo,60.0,female,back
HAM_3,ISIC_4,mel,histo,50.0,male,face
`;

test('alignHmnistToMetadata returns lesion ids when labels follow the metadata file order', () => {
  const meta = parseHam10000Metadata(csv);
  assert.deepEqual(alignHmnistToMetadata([2, 2, 4, 6], meta), ['HAM_1', 'HAM_1', 'HAM_2', 'HAM_3']);
});

test('alignHmnistToMetadata refuses a different row order or count; bad metadata is refused', () => {
  const meta = parseHam10000Metadata(csv);
  const isFormat = (e: unknown) => e instanceof NnError && e.code === 'NN_DATA_FORMAT';
  assert.throws(() => alignHmnistToMetadata([2, 4, 2, 6], meta), isFormat);
  assert.throws(() => alignHmnistToMetadata([2, 2, 4], meta), isFormat);
  assert.throws(() => parseHam10000Metadata('lesion_id,image_id\nA,B\n'), isFormat);
  assert.throws(() => parseHam10000Metadata('lesion_id,image_id,dx\nA,B,xyz\n'), isFormat);
});
