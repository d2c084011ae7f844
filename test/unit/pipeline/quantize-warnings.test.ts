import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracyWarnings,
  evaluationWarnings,
  quantizeWarnings,
  speedWarnings,
} from '../../../src/pipeline/quantize-warnings.js';
import type { SpeedReport } from '../../../src/evaluate/speed.js';
import type { Accuracy } from '../../../src/evaluate/metrics.js';

const NO_VNNI = { avx512_vnni: false, avx_vnni: false, amx_tile: false, avx2: true };

function speed(batch1: number, batch: number, flags: SpeedReport['cpu']['flags'] = NO_VNNI): SpeedReport {
  return {
    batchSize: 100,
    rounds: 5,
    float: { batch1Ms: 6, batchMs: 1000, imagesPerSecond: 100 },
    quantized: { batch1Ms: 6 / batch1, batchMs: 1000 / batch, imagesPerSecond: 100 * batch },
    speedup: { batch1, batch },
    cpu: { model: 'test CPU', flags },
  };
}

const accuracy = (top1: number, kl?: number): Accuracy => ({
  top1,
  top5: 1,
  n: 1000,
  ...(kl === undefined ? {} : { toReference: { kl, agreement: 0.9 } }),
});

test('no warning when model.onnx is as fast as float and classifies as the simulation', () => {
  const same = { fp: accuracy(0.9), baseline: accuracy(0.85, 0.01), exported: accuracy(0.851, 0.0105) };
  assert.deepEqual(
    quantizeWarnings({
      accuracy: same,
      speed: speed(1.5, 1.2),
      options: { wBits: 8, exportFormat: 'per-channel', floatFallback: true },
    }),
    [],
  );
});

test('a slower model.onnx is named with its ratios and what to try', () => {
  const [w8] = speedWarnings(speed(0.8, 1.2), { wBits: 8, exportFormat: 'per-channel', floatFallback: false });
  assert.equal(
    w8,
    "model.onnx runs slower than the float model on this CPU: 0.80× its speed at batch 1 (7.5 ms vs 6.0 ms); this CPU lists none of avx512_vnni, avx_vnni, amx_tile, with which onnxruntime's 8-bit kernels run fastest; --float-fallback (the default) keeps float the layer classes that run faster so",
  );
  const [w4] = speedWarnings(speed(1.1, 0.5), { wBits: 4, exportFormat: 'qdq', floatFallback: true });
  assert.equal(
    w4,
    'model.onnx runs slower than the float model on this CPU: 0.50× at batch 100 (50 vs 100 img/s); at 4-bit weights, --export-format per-channel (the default) runs the MatMuls and Convs as 8-bit kernels',
  );
  const [vnni] = speedWarnings(speed(0.9, 0.9, { ...NO_VNNI, avx512_vnni: true }), {
    wBits: 4,
    exportFormat: 'per-channel',
    floatFallback: true,
  });
  assert.match(
    vnni,
    /0\.90× its speed at batch 1 .*, 0\.90× at batch 100 .*; onnxruntime's integer kernels may not beat float on this CPU; the layers still integer each timed faster so before calibration/,
  );
});

test("model.onnx's top-1 or KL away from the simulated Evol-Q's is named, by how much", () => {
  const searched = {
    fp: accuracy(0.9),
    baseline: accuracy(0.8, 0.05),
    evolq: accuracy(0.85, 0.02),
    exported: accuracy(0.847, 0.025),
  };
  assert.deepEqual(accuracyWarnings(searched), [
    "model.onnx's top-1 84.70% is 0.30 points below the simulated Evol-Q's 85.00%",
    "model.onnx's KL to float 0.02500 is 25% above the simulated Evol-Q's 0.02000",
  ]);
  assert.deepEqual(accuracyWarnings({ ...searched, exported: accuracy(0.852, 0.0219) }), []);
  assert.deepEqual(accuracyWarnings({ fp: accuracy(0.9), baseline: accuracy(0.8), exported: accuracy(0.803) }), [
    "model.onnx's top-1 80.30% is 0.30 points above the simulated baseline's 80.00%",
  ]);
});

test('an evaluation that measures little is warned of: constant float outputs, classes not the folders, low agreement', () => {
  const fine = {
    fp: { ...accuracy(0.9), classes: 10 },
    baseline: accuracy(0.85, 0.01),
    exported: accuracy(0.85, 0.01),
  };
  assert.deepEqual(evaluationWarnings(fine, 10), []);
  assert.deepEqual(evaluationWarnings(fine), []);
  const [constant] = evaluationWarnings({ ...fine, fp: { ...fine.fp, constantOutput: true } });
  assert.match(constant, /the float model gives all 1000 evaluated images the same output/);
  const [classes] = evaluationWarnings({ ...fine, fp: { ...fine.fp, classes: 1000 } }, 10);
  assert.match(
    classes,
    /outputs 1000 classes and its config\.json has no id2label: the 10 class folders were taken as classes 0\.\.9/,
  );
  const low = { ...fine, exported: { ...accuracy(0.5), toReference: { kl: 0.5, agreement: 0.42 } } };
  assert.match(evaluationWarnings(low)[0], /model\.onnx has float's top-1 on only 42\.00% of the images/);
});
