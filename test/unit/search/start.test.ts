import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Graph } from '../../../src/onnx/graph.js';
import type { QuantPoint } from '../../../src/quant/points.js';
import { channelStats, type QuantParams } from '../../../src/quant/scheme.js';
import { blockedWeightParams, weightParams } from '../../../src/calibrate/observers/weights.js';
import { minmaxParams } from '../../../src/calibrate/observers/minmax.js';
import { PtfAccumulator } from '../../../src/calibrate/observers/ptf.js';
import { PtfFit } from '../../../src/calibrate/observers/ptf-fit.js';
import { chooseStart, startParams, type StartName } from '../../../src/search/start.js';
import { Rng } from '../../../src/rng.js';

const rng = new Rng(5);
const weight = Float32Array.from({ length: 32 * 4 }, () => rng.symmetric(1));
const graph = {
  constantValue: (t: string) => (t === 'w' || t === 'v' ? { values: weight, dims: [32, 4] } : undefined),
} as unknown as Graph;
const points: QuantPoint[] = [
  { id: 'w', kind: 'weight', tensor: 'w', node: 'mm', consumers: ['mm'], channelAxis: 1, dims: [32, 4] },
  { id: 'v', kind: 'weight', tensor: 'v', node: 'mm2', consumers: ['mm2'], channelAxis: 1, dims: [32, 4] },
  { id: 'a', kind: 'activation', tensor: 'x', node: 'mm', consumers: ['mm'] },
];
const base: Record<string, QuantParams> = {
  w: weightParams(weight, [32, 4], 1, 3),
  v: blockedWeightParams(weight, [32, 4], 16, 3),
  a: minmaxParams(-1, 1, 8),
};

test("--start corrected: every per-channel weight gets the float weight's channel statistics; blocked weights and activations stay", () => {
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
  const lower = await chooseStart(
    'auto',
    ['baseline', 'corrected'],
    paramsOf,
    fitnessOf({ baseline: 0.2, corrected: 0.1 }),
  );
  assert.equal(lower.name, 'corrected');
  assert.deepEqual(lower.fitness, { baseline: 0.2, corrected: 0.1 });
  assert.equal(
    (await chooseStart('auto', ['baseline', 'corrected'], paramsOf, fitnessOf({ baseline: 0.1, corrected: 0.1 }))).name,
    'baseline',
  );
  assert.equal(
    (await chooseStart('auto', ['baseline', 'corrected'], paramsOf, fitnessOf({ baseline: 0.1, corrected: 0.3 }))).name,
    'baseline',
  );
  scored.length = 0;
  const named = await chooseStart('corrected', ['baseline', 'corrected'], paramsOf, fitnessOf({}));
  assert.equal(named.name, 'corrected');
  assert.equal(named.fitness, undefined);
  assert.deepEqual(scored, []);
});

test('--start fitted: corrected weights, and each LayerNorm input takes its refitted PTF scale, zero point and factors', () => {
  const ln = { ...minmaxParams(-8, 8, 4), axis: -1, channelFactor: Float32Array.from([1, 8]) };
  const refit = { ...minmaxParams(-4, 4, 4), axis: -1, channelFactor: Float32Array.from([2, 4]) };
  const withLn = { ...base, n: { ...ln, integerLayerNorm: true } };
  const start = startParams(graph, points, withLn, 'fitted', { n: refit });
  assert.deepEqual(start.w, { ...base.w, correction: channelStats(weight, [32, 4], 1) });
  assert.deepEqual(start.n, { ...refit, integerLayerNorm: true }, 'the refit replaces the quantizer, other flags stay');
  assert.equal(start.a, base.a);
  assert.throws(() => startParams(graph, points, withLn, 'fitted'), /did not refit PTF/);
});

test('--start fitted below 8 bits puts each uniform softmax on the log√2 quantizer; at 8 bits and with --lis it stays', () => {
  const softmax: QuantPoint = { id: 's', kind: 'softmax', tensor: 'p', node: 'softmax', consumers: ['mm3'] };
  const withSoftmax = [...points, softmax];
  const at = (bits: number) =>
    startParams(graph, withSoftmax, { ...base, s: minmaxParams(0, 1, bits) }, 'fitted', {}).s;
  assert.deepEqual(at(4), { kind: 'log2', bits: 4, steps: 2 });
  assert.deepEqual(at(8), minmaxParams(0, 1, 8));
  const lis: QuantParams = { kind: 'log2', bits: 4 };
  assert.equal(
    startParams(graph, withSoftmax, { ...base, s: lis }, 'fitted', {}).s,
    lis,
    "FQ-ViT's log2 (--lis) is kept",
  );
  assert.equal(
    startParams(graph, withSoftmax, { ...base, s: minmaxParams(0, 1, 4) }, 'corrected').s.kind,
    'uniform',
    'only fitted changes it',
  );
});

test("PtfFit: clips the range where rare extremes waste the 4-bit levels, with less error as the LayerNorm reads it than FQ-ViT's PTF", () => {
  const r = new Rng(11);
  const channels = 16;
  const rows = 400;
  // Gaussian tokens with one extreme value in a handful of rows: at 4 bits the whole range wastes levels.
  const values = new Float32Array(rows * channels);
  for (let i = 0; i < values.length; i++) values[i] = r.symmetric(1) + r.symmetric(1) + r.symmetric(1);
  for (let k = 0; k < 4; k++) values[k * 97 * channels + 3] = 40;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const fit = new PtfFit(min, max, 4);
  const fqvit = new PtfAccumulator(min, max, 4);
  fit.add(values.subarray(0, 200 * channels), channels); // chunks give the same sums as one pass
  fit.add(values.subarray(200 * channels), channels);
  fqvit.add(values, channels);
  const fitted = fit.params();
  const plain = fqvit.params();
  assert.ok(
    fitted.scale[0] < plain.scale[0],
    `refit base ${fitted.scale[0]} should be below FQ-ViT's ${plain.scale[0]}`,
  );
  // The error as the LayerNorm reads it (per row, divided by the row's variance): the refit is lower.
  const error = (p: { scale: Float32Array; zeroPoint: Float32Array; channelFactor?: Float32Array }) => {
    let total = 0;
    for (let row = 0; row < rows; row++) {
      const x = values.subarray(row * channels, (row + 1) * channels);
      const mean = x.reduce((a, b) => a + b, 0) / channels;
      const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / channels;
      x.forEach((v, c) => {
        const s = p.scale[0] * p.channelFactor![c];
        const q = Math.min(15, Math.max(0, Math.round(v / s) + p.zeroPoint[0]));
        total += ((q - p.zeroPoint[0]) * s - v) ** 2 / (variance + 1e-6);
      });
    }
    return total;
  };
  assert.ok(error(fitted) < 0.8 * error(plain), `refit error ${error(fitted)} against FQ-ViT's ${error(plain)}`);
  assert.ok(
    fitted.channelFactor!.every((f) => [1, 2, 4, 8].includes(f)),
    'one step per octave: powers of two',
  );
  // Half octaves: the powers of two are among the factors, so the error cannot grow; channels whose spreads go
  // up by √2 from one to the next take factors between them.
  for (let i = 0; i < values.length; i++) values[i] *= Math.SQRT2 ** ((i % channels) % 6);
  const range = [Math.min(...values), Math.max(...values)];
  const [coarse, fine] = [new PtfFit(range[0], range[1], 4), new PtfFit(range[0], range[1], 4, 2)];
  coarse.add(values, channels);
  fine.add(values, channels);
  const halves = fine.params();
  assert.ok(
    halves.channelFactor!.every((f) => Number.isInteger(Math.round(Math.log2(f) * 2e6) / 1e6) && f >= 1 && f <= 8),
    `${halves.channelFactor}`,
  );
  assert.ok(
    halves.channelFactor!.some((f) => !Number.isInteger(Math.round(Math.log2(f) * 1e6) / 1e6)),
    `${halves.channelFactor}: some half octaves`,
  );
  assert.ok(
    error(halves) < error(coarse.params()),
    `half-octave error ${error(halves)} against ${error(coarse.params())}`,
  );
  assert.throws(() => new PtfFit(min, max, 4, 0), /steps must be a positive integer/);
});

test('PtfFit with plain rows: the few channels many times larger than the rest get their own factor, with less squared error than one scale', () => {
  const r = new Rng(3);
  const channels = 12;
  const rows = 300;
  const values = Float32Array.from(
    { length: rows * channels },
    (_, i) => (r.symmetric(1) + r.symmetric(1)) * ([2, 7].includes(i % channels) ? 8 : 1),
  );
  const [min, max] = [Math.min(...values), Math.max(...values)];
  const fit = new PtfFit(min, max, 4, 2, 'plain');
  fit.add(values, channels);
  const p = fit.params();
  assert.deepEqual(
    Array.from(p.channelFactor!, (f, c) => ([2, 7].includes(c) ? f >= 4 : f <= 2)),
    new Array(channels).fill(true),
    `factors ${p.channelFactor}`,
  );
  const error = (scale: (c: number) => number, zero: number) =>
    values.reduce((total, v, i) => {
      const s = scale(i % channels);
      return total + ((Math.min(15, Math.max(0, Math.round(v / s) + zero)) - zero) * s - v) ** 2;
    }, 0);
  const single = minmaxParams(min, max, 4);
  assert.ok(
    error((c) => p.scale[0] * p.channelFactor![c], p.zeroPoint[0]) <
      0.3 * error(() => single.scale[0], single.zeroPoint[0]),
  );
});

test('PtfFit fits on its first MAX_ROWS rows, however the chunks split them: what comes after does not move it', () => {
  const r = new Rng(4);
  const channels = 3;
  const rows = PtfFit.MAX_ROWS;
  const first = Float32Array.from({ length: rows * channels }, () => r.symmetric(1));
  const later = Float32Array.from({ length: 500 * channels }, () => 9 * r.symmetric(1));
  const whole = new PtfFit(-9, 9, 4, 2, 'plain');
  whole.add(first, channels);
  const chunked = new PtfFit(-9, 9, 4, 2, 'plain');
  chunked.add(first.subarray(0, 1000 * channels), channels);
  const tail = new Float32Array((rows - 1000 + 500) * channels);
  tail.set(first.subarray(1000 * channels));
  tail.set(later, (rows - 1000) * channels);
  chunked.add(tail, channels);
  chunked.add(later, channels);
  assert.deepEqual(chunked.params(), whole.params());
  const moved = new PtfFit(-9, 9, 4, 2, 'plain');
  moved.add(later, channels);
  assert.notDeepEqual(moved.params(), whole.params(), 'the later rows alone fit differently');
});
