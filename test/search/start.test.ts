import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Graph } from '../../src/onnx/graph.js';
import type { QuantPoint } from '../../src/quant/points.js';
import { channelStats, type QuantParams } from '../../src/quant/scheme.js';
import { blockedWeightParams, minmaxParams, weightParams } from '../../src/calibrate/observers.js';
import { startParams, type StartName } from '../../src/search/start.js';
import { chooseStart } from '../../src/search/search.js';
import { Rng } from '../../src/rng.js';

const rng = new Rng(5);
const weight = Float32Array.from({ length: 32 * 4 }, () => rng.symmetric(1));
const graph = { constantValue: (t: string) => (t === 'w' || t === 'v' ? { values: weight, dims: [32, 4] } : undefined) } as unknown as Graph;
const points: QuantPoint[] = [
  { id: 'w', kind: 'weight', tensor: 'w', node: 'mm', consumers: ['mm'], channelAxis: 1, dims: [32, 4] },
  { id: 'v', kind: 'weight', tensor: 'v', node: 'mm2', consumers: ['mm2'], channelAxis: 1, dims: [32, 4] },
  { id: 'a', kind: 'activation', tensor: 'x', node: 'mm', consumers: ['mm'] },
];
const base: Record<string, QuantParams> = { w: weightParams(weight, [32, 4], 1, 3), v: blockedWeightParams(weight, [32, 4], 16, 3), a: minmaxParams(-1, 1, 8) };

test('--start corrected: every per-channel weight gets the float weight\'s channel statistics; blocked weights and activations stay', () => {
  assert.deepEqual(startParams(graph, points, base, 'baseline'), base);
  const start = startParams(graph, points, base, 'corrected');
  assert.deepEqual(start.w, { ...base.w, correction: channelStats(weight, [32, 4], 1) });
  assert.equal(start.v, base.v, 'blocked weights are not corrected (the export cannot write it)');
  assert.equal(start.a, base.a);
  assert.equal((base.w as { correction?: unknown }).correction, undefined, 'the baseline is not changed');
});

test('--start auto takes the start with the lower calibration fitness, the baseline on a tie; a named start is not evaluated', async () => {
  const paramsOf = (name: StartName) => startParams(graph, points, base, name);
  const scored: string[] = [];
  const fitnessOf = (values: Record<string, number>) => async (params: Record<string, QuantParams>) => {
    const name = params.w === base.w ? 'baseline' : 'corrected';
    scored.push(name);
    return values[name];
  };
  const lower = await chooseStart('auto', paramsOf, fitnessOf({ baseline: 0.2, corrected: 0.1 }));
  assert.equal(lower.name, 'corrected');
  assert.deepEqual(lower.fitness, { baseline: 0.2, corrected: 0.1 });
  assert.equal((await chooseStart('auto', paramsOf, fitnessOf({ baseline: 0.1, corrected: 0.1 }))).name, 'baseline');
  assert.equal((await chooseStart('auto', paramsOf, fitnessOf({ baseline: 0.1, corrected: 0.3 }))).name, 'baseline');
  scored.length = 0;
  const named = await chooseStart('corrected', paramsOf, fitnessOf({}));
  assert.equal(named.name, 'corrected');
  assert.equal(named.fitness, undefined);
  assert.deepEqual(scored, []);
});
