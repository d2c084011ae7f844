// Streamed calibration (ranges reduced in onnxruntime, OMSE and PTF as streaming statistics of the sample batch,
// chunks sized by the memory budget) chooses what the pre-streaming code chose (test/calibrate-reference.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { OmseAccumulator } from '../../../src/calibrate/observers/omse.js';
import { PtfAccumulator } from '../../../src/calibrate/observers/ptf.js';
import { squaredError } from '../../../src/calibrate/observers/levels.js';
import { calibrate } from '../../../src/calibrate/calibrate.js';
import type { CalibrationOptions } from '../../../src/calibrate/table.js';
import { loadModel } from '../../../src/model.js';
import { findQuantPoints } from '../../../src/quant/points.js';
import { listImageFolder, decodeImages } from '../../../src/data/imagefolder.js';
import { defaultRunner } from '../../../src/runtime/runner.js';
import { scaleAndZeroPoint, uintRange } from '../../../src/quant/scheme.js';
import { Rng } from '../../../src/rng.js';
import { referenceOmse, referencePtfAlpha, SortedSample } from '../../calibrate-reference.js';
import { ASSETS, DEFAULT_MODEL } from '../../helpers.js';

function activations(rng: Rng, n: number): Float32Array {
  // Mostly N(0,1)-like values with a few large outliers, exact zeros and repeats, as transformer activations have.
  return Float32Array.from({ length: n }, (_, i) => {
    if (i % 101 === 0) return 0;
    if (i % 103 === 0) return 0.5;
    const g = (rng.next() + rng.next() + rng.next() - 1.5) * 2;
    return i % 997 === 0 ? g * 40 : g;
  });
}

test('OMSE as a streaming statistic: each candidate error equals the direct sum, in chunks or at once', () => {
  const x = activations(new Rng(11), 30000);
  let min = Infinity;
  let max = -Infinity;
  for (const v of x) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  for (const bits of [8, 4]) {
    const whole = new OmseAccumulator(min, max, bits);
    whole.add(x);
    const chunked = new OmseAccumulator(min, max, bits);
    for (let i = 0; i < x.length; i += 7001) chunked.add(x.subarray(i, i + 7001));
    const range = uintRange(bits);
    const sorted = new SortedSample(x);
    for (let i = 0; i < OmseAccumulator.CANDIDATES; i++) {
      const { scale, zeroPoint } = scaleAndZeroPoint(min * (1 - 0.01 * i), max * (1 - 0.01 * i), range);
      const direct = squaredError(x, scale, zeroPoint, range);
      assert.ok(
        Math.abs(whole.candidateError(i) - direct) <= 1e-9 * direct,
        `${bits} bits, candidate ${i}: ${whole.candidateError(i)} vs ${direct}`,
      );
      assert.equal(chunked.candidateError(i), whole.candidateError(i), 'sums in arrival order: chunks change nothing');
      assert.ok(Math.abs(sorted.squaredError(scale, zeroPoint, range) - direct) <= 1e-9 * direct);
    }
    const chosen = whole.params();
    const reference = referenceOmse(min, max, x, bits);
    assert.deepEqual([chosen.scale[0], chosen.zeroPoint[0]], [Math.fround(reference.scale), reference.zeroPoint]);
  }
});

test('OMSE streaming: values outside the range it was made for, and a range of one value, still sum exactly', () => {
  const x = activations(new Rng(13), 5000);
  for (const [min, max] of [
    [-1, 1.5],
    [0.5, 0.5],
    [0, 0],
  ]) {
    const values = min === max ? new Float32Array(300).fill(min) : x;
    for (const bits of [8, 4]) {
      const accumulator = new OmseAccumulator(min, max, bits);
      accumulator.add(values);
      const range = uintRange(bits);
      for (let i = 0; i < OmseAccumulator.CANDIDATES; i += 11) {
        const { scale, zeroPoint } = scaleAndZeroPoint(min * (1 - 0.01 * i), max * (1 - 0.01 * i), range);
        const direct = squaredError(values, scale, zeroPoint, range);
        assert.ok(
          Math.abs(accumulator.candidateError(i) - direct) <= 1e-9 * direct + 1e-12,
          `[${min}, ${max}], ${bits} bits, candidate ${i}: ${accumulator.candidateError(i)} vs ${direct}`,
        );
      }
    }
  }
});

test('PTF as a streaming statistic picks the same α per channel, in chunks or at once', () => {
  const channels = 48;
  const rng = new Rng(12);
  const x = Float32Array.from({ length: channels * 500 }, (_, i) => (rng.next() * 2 - 1) * (1 + (i % channels)) * 0.3);
  const chunked = new PtfAccumulator(-15, 14, 8);
  for (let row = 0; row < 500; row += 37)
    chunked.add(x.subarray(row * channels, Math.min(500, row + 37) * channels), channels);
  assert.deepEqual(chunked.params().alpha, referencePtfAlpha(-15, 14, x, channels, 8));
});

const OPTIONS: CalibrationOptions = {
  wBits: 8,
  aBits: 8,
  observer: 'omse',
  ptf: true,
  lis: false,
  biasCorrection: false,
  batchSize: 20,
};

test('a NaN anywhere in a tensor makes its range NaN and calibration refuses it', async () => {
  const model = loadModel(DEFAULT_MODEL);
  const points = findQuantPoints(model.graph);
  const images = await decodeImages(
    listImageFolder(join(ASSETS, 'cifar10/calib'), model.labels).items.slice(0, 3),
    model.preprocessing,
  );
  images.data[images.data.length - 5] = NaN; // not the first element: onnxruntime's ReduceMax would skip it
  await assert.rejects(
    calibrate(defaultRunner, model.graph, model.inputName, points, images, OPTIONS),
    /no finite range.*min NaN, max NaN/,
  );
});
