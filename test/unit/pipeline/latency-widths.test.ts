import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitLatency, inModelScale, type LatencyBudget } from '../../../src/pipeline/latency-widths.js';
import { knapsackItems, preparedAtWidths } from '../../../src/pipeline/width-context.js';
import { loadModel } from '../../../src/model.js';
import { findQuantPoints } from '../../../src/quant/points.js';
import { findUnits } from '../../../src/quant/units.js';
import { DEFAULT_MODEL } from '../../helpers.js';
import type { WeightSensitivity } from '../../../src/widths/sensitivity.js';

// Three layers: float takes 2 ms more than integer in each, and float saves the most on w1, then w0, then w2.
const takes = { w0: { 32: 3, 8: 1 }, w1: { 32: 3, 8: 1 }, w2: { 32: 3, 8: 1 } };
const sensitivity = {
  rise: { w0: { 32: -0.02 }, w1: { 32: -0.05 }, w2: { 32: -0.01 } },
} as unknown as WeightSensitivity;

test("the knapsack items take each width's time and its rise, none at the widest integer width", () => {
  assert.deepEqual(knapsackItems(takes, sensitivity, [32, 8])[1], [
    { bytes: 3, cost: -0.05 },
    { bytes: 1, cost: 0 },
  ]);
});

test('fitLatency keeps float the layers that save most within the time left, and solves again with the overshoot taken off', async () => {
  const items = knapsackItems(takes, sensitivity, [32, 8]);
  // Float at 20 ms; integer layers 3 ms of the integer model's 10 ms. A budget of 0.75 (15 ms) leaves 8 ms for the
  // layers: two float (3 + 3 + 1 = 7 ms), the two that save most.
  const fit = { items, ids: ['w0', 'w1', 'w2'], choices: [32, 8], rest: 7, floatMs: 20, fraction: 0.75 };
  const tried: LatencyBudget['tried'] = [];
  // The integer model's fraction plus 0.1 per float layer, off by `two` where two layers are float, `other` elsewhere.
  const measuredAs =
    (two: number, other = 0) =>
    async (widths: Record<string, number>) => {
      const float = Object.values(widths).filter((b) => b === 32).length;
      return (10 + 2 * float) / 20 + (float === 2 ? two : other);
    };
  assert.deepEqual(await fitLatency(fit, measuredAs(0), tried), { widths: { w0: 32, w1: 32, w2: 8 }, measured: 0.7 });
  // 0.05 under the budget, but 1 ms more room does not fit a third float layer: the same pick, so no second try.
  assert.deepEqual(tried, [{ predicted: 0.7, measured: 0.7 }]);
  // Timed 0.1 under the prediction: the room left is added, and all three go float (0.7 measured, within).
  tried.length = 0;
  assert.deepEqual((await fitLatency(fit, measuredAs(-0.1, -0.1), tried))?.widths, { w0: 32, w1: 32, w2: 32 });
  assert.deepEqual(
    tried.map((t) => t.measured.toFixed(2)),
    ['0.60', '0.70'],
  );
  // Two float layers measure 0.1 over what the parts predict: the next try has 2 ms less and keeps only w1 float
  // (0.6, within); the room left brings back two (over again, until the tries end), and the one within is kept.
  tried.length = 0;
  // The kept one is the try within (0.6), not the last one timed.
  assert.deepEqual(await fitLatency(fit, measuredAs(0.1), tried), { widths: { w0: 8, w1: 32, w2: 8 }, measured: 0.6 });
  assert.deepEqual(
    tried.slice(0, 2).map((t) => t.measured.toFixed(2)),
    ['0.80', '0.60'],
  );
  assert.ok(tried.length <= 4 && tried.slice(2).every((t) => t.measured > 0.75), JSON.stringify(tried));
  // A machine where every float try is over: after the tries, none.
  tried.length = 0;
  assert.equal(await fitLatency(fit, async () => 0.9, tried), undefined);
  assert.ok(tried.length >= 1 && tried.length <= 4);
});

test('a float width drops its weight point and its input quantizer where only it read one, and keeps every id', () => {
  const model = loadModel(DEFAULT_MODEL);
  const points = findQuantPoints(model.graph, {});
  const prepared = { model, points, units: findUnits(model.graph, points) } as unknown as Parameters<
    typeof preparedAtWidths
  >[0];
  const fc2 = points.find((p) => p.kind === 'weight' && p.node.endsWith('blocks.0/mlp/fc2/MatMul'))!;
  const input = points.find((p) => p.kind !== 'weight' && p.consumers.includes(fc2.node))!;
  assert.deepEqual(preparedAtWidths(prepared, { [fc2.id]: 8 }, 'attention'), prepared, 'no float: as it was');
  const at = preparedAtWidths(prepared, { [fc2.id]: 32 }, 'attention');
  assert.equal(at.points.length, points.length - 2, 'fc2 weight and the GELU output it alone read');
  assert.ok(!at.points.some((p) => p.id === fc2.id || p.id === input.id));
  // Every other point keeps its id (the calibration table is keyed by them).
  for (const p of at.points) assert.equal(points.find((q) => q.id === p.id)!.tensor, p.tensor);
});

test("layers alone are scaled to the two models: their difference is the models' difference, else 1", () => {
  const times = { w0: { float: 3, integer: 1 }, w1: { float: 5, integer: 2 } };
  // The layers alone differ by 5 ms, the models by 2.5: inside the model a layer takes half its time alone.
  assert.equal(inModelScale(times, 20, 17.5), 0.5);
  // Integer layers no faster alone, or a model difference the other way: no scale.
  assert.equal(inModelScale({ w0: { float: 1, integer: 2 } }, 20, 17.5), 1);
  assert.equal(inModelScale(times, 17.5, 20), 1);
});
