import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockedWeightParams, weightParams } from '../../../src/calibrate/observers/weights.js';
import { minmaxParams } from '../../../src/calibrate/observers/minmax.js';
import { omseParams } from '../../../src/calibrate/observers/omse.js';
import { ptfParams } from '../../../src/calibrate/observers/ptf.js';
import { squaredError } from '../../../src/calibrate/observers/levels.js';
import { quantile, PercentileTracker } from '../../../src/calibrate/observers/percentile.js';
import { SortedSample, radixSort } from '../../calibrate-reference.js';
import { scaleAndZeroPoint, uintRange, fakeQuantUniform } from '../../../src/quant/scheme.js';
import { Rng } from '../../../src/rng.js';

function heavyTailed(rng: Rng, n: number): Float32Array {
  // Mostly N(0,1)-like values with a few large outliers, as transformer activations have.
  return Float32Array.from({ length: n }, (_, i) => {
    const g = (rng.next() + rng.next() + rng.next() - 1.5) * 2;
    return i % 997 === 0 ? g * 40 : g;
  });
}

test('min-max follows FQ-ViT: scale = range / (2^b − 1), zero point = qmin − round(min / scale)', () => {
  const p = minmaxParams(-1, 3, 8);
  assert.equal(p.scale[0], Math.fround(4 / 255));
  assert.equal(p.zeroPoint[0], Math.round(1 / Math.fround(4 / 255)));
  assert.equal(
    minmaxParams(0, 0, 8).scale[0],
    Math.fround(1.1920928955078125e-7),
    'a constant tensor gets the smallest scale',
  );
  assert.equal(scaleAndZeroPoint(2, 5, uintRange(4)).zeroPoint, 0, 'the zero point is clamped to the range');
});

test('OMSE picks a tighter range than min-max on a heavy-tailed tensor, with less squared error', () => {
  const x = heavyTailed(new Rng(1), 20000);
  const min = Math.min(...x);
  const max = Math.max(...x);
  const range = uintRange(8);
  const plain = minmaxParams(min, max, 8);
  const omse = omseParams(min, max, x, 8);
  assert.ok(omse.scale[0] < plain.scale[0]);
  const error = (p: typeof plain) => squaredError(x, p.scale[0], p.zeroPoint[0], range);
  assert.ok(error(omse) < error(plain));
});

test('the sorted-sample error equals the direct sum over the data', () => {
  const x = heavyTailed(new Rng(2), 5000);
  const sorted = new SortedSample(x);
  for (const [scale, zeroPoint, bits] of [
    [0.05, 128, 8],
    [0.3, 7, 4],
    [0.9, 3, 3],
    [0.001, 0, 8],
  ] as const) {
    const direct = squaredError(x, scale, zeroPoint, uintRange(bits));
    const fast = sorted.squaredError(scale, zeroPoint, uintRange(bits));
    assert.ok(Math.abs(direct - fast) <= 1e-9 * direct + 1e-9, `${direct} vs ${fast}`);
  }
  const reference = fakeQuantUniform(x, Float32Array.of(0.05), Float32Array.of(128), uintRange(8));
  const summed = x.reduce((s, v, i) => s + (v - reference[i]) ** 2, 0);
  assert.ok(Math.abs(summed - squaredError(x, 0.05, 128, uintRange(8))) < 1e-9 * summed);
});

test('radix sort orders floats like a numeric sort, negatives and zeros included', () => {
  const x = Float32Array.from(heavyTailed(new Rng(3), 3000));
  x[0] = -0;
  x[1] = 0;
  x[2] = -Infinity;
  x[3] = Infinity;
  assert.deepEqual(Array.from(radixSort(x)), Array.from(Float32Array.from(x).sort()));
});

test('PTF gives narrow channels small factors and wide channels large ones, with one zero point', () => {
  const channels = 4;
  const rng = new Rng(4);
  const widths = [0.1, 1, 4, 16];
  const x = Float32Array.from({ length: 4000 }, (_, i) => (rng.next() * 2 - 1) * widths[i % channels]);
  const p = ptfParams(-16, 16, x, channels, 8);
  assert.equal(p.zeroPoint.length, 1);
  assert.equal(p.scale.length, 1);
  assert.deepEqual(p.alpha, [0, 0, 1, 3]); // base step 32/255/8: ±4 fits 2·base, ±16 needs 8·base
  assert.equal(p.scale[0], Math.fround(Math.fround(32 / 255) / 8));
  assert.deepEqual(Array.from(p.channelFactor!), [1, 1, 2, 8]);
});

test('weights get one min-max range per output channel on the channel axis', () => {
  // W [2, 3] with output channels on axis 1.
  const w = Float32Array.of(-1, 0, 2, 1, 4, -2);
  const p = weightParams(w, [2, 3], 1, 4);
  assert.equal(p.axis, 1);
  assert.deepEqual(Array.from(p.scale), [2 / 15, 4 / 15, 4 / 15].map(Math.fround));
  const byRows = weightParams(w, [2, 3], 0, 4);
  assert.deepEqual(Array.from(byRows.scale), [3 / 15, 6 / 15].map(Math.fround));
});

test('quantile interpolates like torch.quantile; the percentile observer smooths across batches', () => {
  const x = Float32Array.from({ length: 101 }, (_, i) => i);
  assert.equal(quantile(x, 0.5), 50);
  assert.equal(quantile(x, 0.995), 99.5);
  const tracker = new PercentileTracker();
  tracker.update(x);
  const first = tracker.max;
  tracker.update(x.map((v) => v * 2));
  assert.ok(
    Math.abs(
      tracker.max -
        (first +
          0.01 *
            (quantile(
              x.map((v) => v * 2),
              0.99999,
            ) -
              first)),
    ) < 1e-9,
  );
});

test('blocked weight parameters take min-max over each block of rows of each column', () => {
  // [4, 2] weight, blocks of 2 rows: block 0 of column 0 is {0, 2}, of column 1 {-1, 1}; block 1: {4, 6} and {-3, 3}.
  const p = blockedWeightParams(Float32Array.of(0, -1, 2, 1, 4, -3, 6, 3), [4, 2], 2, 4);
  assert.deepEqual(p.block, { size: 2, blocks: 2 });
  assert.equal(p.axis, 1);
  const expected = [
    [0, 2],
    [-1, 1],
    [4, 6],
    [-3, 3],
  ].map(([lo, hi]) => scaleAndZeroPoint(lo, hi, uintRange(4)));
  assert.deepEqual(
    [...p.scale],
    expected.map((e) => Math.fround(e.scale)),
  );
  assert.deepEqual(
    [...p.zeroPoint],
    expected.map((e) => e.zeroPoint),
  );
});
