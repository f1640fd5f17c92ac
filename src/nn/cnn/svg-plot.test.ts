import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lineChartSvg } from './svg-plot.ts';

test('line chart: an SVG document with one polyline and one marker per point per series', () => {
  const svg = lineChartSvg(
    [
      {
        name: 'a<b',
        points: [
          [20, 90],
          [26, 98.3],
          [30, 98.4],
        ],
      },
      {
        name: 'c',
        points: [
          [20, 1],
          [30, 2],
        ],
      },
    ],
    { title: 'accuracy vs scale bits', xLabel: 'bits', yLabel: '%' },
  );
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.equal(svg.match(/<polyline/g)?.length, 2);
  assert.equal(svg.match(/<circle/g)?.length, 5);
  assert.ok(svg.includes('a&lt;b'));
  assert.ok(!svg.includes('NaN'));
  assert.throws(() => lineChartSvg([], { title: '', xLabel: '', yLabel: '' }), RangeError);
});
