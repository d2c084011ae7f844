import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Graph } from '../../src/onnx/graph.js';
import type { QuantPoint } from '../../src/quant/points.js';
import type { QuantParams } from '../../src/quant/scheme.js';
import { minmaxParams, mseWeightParams, weightParams } from '../../src/calibrate/observers.js';
import { startParams } from '../../src/search/start.js';
import { chooseStart } from '../../src/search/search.js';
import { Rng } from '../../src/rng.js';

const rng = new Rng(5);
const weight = Float32Array.from({ length: 32 * 4 }, () => rng.symmetric(1));
weight[3] = 5;
const graph = { constantValue: (t: string) => (t === 'w' ? { values: weight, dims: [32, 4] } : undefined) } as unknown as Graph;
const points: QuantPoint[] = [
  { id: 'w', kind: 'weight', tensor: 'w', node: 'mm', consumers: ['mm'], channelAxis: 1, dims: [32, 4] },
  { id: 'a', kind: 'activation', tensor: 'x', node: 'mm', consumers: ['mm'] },
];
const base: Record<string, QuantParams> = { w: weightParams(weight, [32, 4], 1, 3), a: minmaxParams(-1, 1, 8) };

test('--start mse-weights: every per-channel weight takes its least-squares range, activations keep the baseline\'s', () => {
  assert.deepEqual(startParams(graph, points, base, 'baseline'), base);
  const start = startParams(graph, points, base, 'mse-weights');
  const mse = mseWeightParams(weight, [32, 4], 1, 3);
  assert.deepEqual(start.w, { ...base.w, scale: mse.scale, zeroPoint: mse.zeroPoint });
  assert.notDeepEqual(Array.from((start.w as { scale: Float32Array }).scale), Array.from((base.w as { scale: Float32Array }).scale));
  assert.equal(start.a, base.a);
  assert.equal((base.w as { scale: Float32Array }).scale[3], weightParams(weight, [32, 4], 1, 3).scale[3], 'the baseline is not changed');
});

test('--start auto takes the start with the lower calibration fitness, the baseline on a tie; a named start is not evaluated', async () => {
  const paramsOf = (name: 'baseline' | 'mse-weights') => startParams(graph, points, base, name);
  const scored: string[] = [];
  const fitnessOf = (values: Record<string, number>) => async (params: Record<string, QuantParams>) => {
    const name = params.w === base.w ? 'baseline' : 'mse-weights';
    scored.push(name);
    return values[name];
  };
  const lower = await chooseStart('auto', paramsOf, fitnessOf({ baseline: 0.2, 'mse-weights': 0.1 }));
  assert.equal(lower.name, 'mse-weights');
  assert.deepEqual(lower.fitness, { baseline: 0.2, 'mse-weights': 0.1 });
  assert.equal((await chooseStart('auto', paramsOf, fitnessOf({ baseline: 0.1, 'mse-weights': 0.1 }))).name, 'baseline');
  assert.equal((await chooseStart('auto', paramsOf, fitnessOf({ baseline: 0.1, 'mse-weights': 0.3 }))).name, 'baseline');
  scored.length = 0;
  const named = await chooseStart('mse-weights', paramsOf, fitnessOf({}));
  assert.equal(named.name, 'mse-weights');
  assert.equal(named.fitness, undefined);
  assert.deepEqual(scored, []);
});
