// Encrypted vectors in a few lines: encrypt, compute on ciphertexts, decrypt.
// Run: node_modules/.bin/node examples/encrypted-vector.ts   (tested by test/examples.test.ts)
import { VectorContext } from '../src/he/vector.ts';

const weights = [0.5, -1, 0.25, 2];
const matrix = { rows: 2, cols: 4, data: [1, 1, 0, 0, 0, 0, 1, -1] }; // y = [x0 + x1, x2 − x3]

// Keys for exactly what we use: x·x products, sums (dot), and this matrix's rotations.
const capabilities = { maxLength: 4, multiply: true, sum: true, matrices: [matrix] };
using ctx = await VectorContext.create('ckks-8192-d3', capabilities);
using x = ctx.encrypt([0.1, 0.2, 0.3, 0.4]);

using score = x.dot(weights); // Σ wᵢ·xᵢ
using sigmoid = x.polyval([0.5, 0.197, 0, -0.004]); // ≈ 1 / (1 + e^−x)
using y = x.matmul(matrix); // M·x

const show = (v: number[]) => v.map((n) => n.toFixed(6)).join(' ');
console.log(`weighted sum: ${show(score.decrypt())}`);
console.log(`sigmoid:      ${show(sigmoid.decrypt())}`);
console.log(`matmul:       ${show(y.decrypt())}`);
