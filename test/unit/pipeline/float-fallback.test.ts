import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Graph } from '../../../src/onnx/graph.js';
import { FALLBACK_MARGIN, fallbackClasses, fallbackSteps } from '../../../src/pipeline/float-fallback.js';
import { layerClass } from '../../../src/quant/float-layers.js';
import { findQuantPoints } from '../../../src/quant/points.js';
import { openResume } from '../../../src/pipeline/resume.js';
import { resolveOptions } from '../../../src/options/resolve.js';
import { OutputDir } from '../../../src/export/outdir.js';
import { CHECKPOINT_FILE, writeCheckpoint } from '../../../src/search/checkpoint.js';
import type { SearchState } from '../../../src/search/state.js';
import { silentProgress } from '../../../src/progress.js';
import { Rng } from '../../../src/rng.js';
import { DEFAULT_MODEL, buildModel, randomTensor, tempDir } from '../../helpers.js';

test('a layer class goes float when the model with it float is faster by more than the margin, at batch 1 and N together', () => {
  const classes = new Map([
    ['DepthwiseConv', ['dw1', 'dw2']],
    ['MatMul', ['fc']],
    ['Conv', ['c1']],
  ]);
  // Times per round of [all integer b1, bN], then each class float in turn: [b1, bN]. The second round ran with
  // the machine twice as loaded: paired within the round, it says the same.
  const rounds = [
    [10, 100, 7, 70, 10.2, 101, 10 / 1.04, 100 / 1.04],
    [20, 200, 14, 140, 20.4, 202, 20 / 1.04, 200 / 1.04],
    [10, 100, 7, 70, 10.2, 101, 10 / 1.04, 100 / 1.04],
  ];
  const profile = fallbackClasses(
    classes,
    rounds[0].map((_, v) => rounds.map((round) => round[v])),
  );
  assert.deepEqual(
    profile.map((c) => [c.layerClass, c.layers, c.float]),
    [
      ['DepthwiseConv', 2, true],
      ['MatMul', 1, false],
      ['Conv', 1, false],
    ],
  );
  assert.ok(Math.abs(profile[0].speedup - 10 / 7) < 1e-12);
  assert.ok(Math.abs(profile[2].speedup - 1.04) < 1e-12 && 1.04 < 1 + FALLBACK_MARGIN, 'within the margin stays');
});

test('a class whose gain a few lucky rounds make does not go float: three rounds in four must see it faster', () => {
  const classes = new Map([['Gemm', ['fc']]]);
  // Five rounds [base b1, base bN, Gemm float b1, bN]: the median gain is 1.10, but two rounds saw it slower.
  const rounds = [
    [10, 100, 10 / 1.1, 100 / 1.1],
    [10, 100, 10 / 1.2, 100 / 1.2],
    [10, 100, 10 / 1.15, 100 / 1.15],
    [10, 100, 10 / 0.9, 100 / 0.9],
    [10, 100, 10 / 0.8, 100 / 0.8],
  ];
  const [gemm] = fallbackClasses(
    classes,
    rounds[0].map((_, v) => rounds.map((round) => round[v])),
  );
  assert.ok(Math.abs(gemm.speedup - 1.1) < 1e-12);
  assert.equal(gemm.float, false);
});

test('fallbackSteps measures again after each step: a class that pays off as integers only beside integer neighbours goes float next', async () => {
  const classes = new Map([
    ['Conv', ['c1', 'c2']],
    ['DepthwiseConv', ['dw']],
    ['Gemm', ['fc']],
  ]);
  // A model of the EfficientNet case: integer depthwise layers cost 8 ms; integer dense ones save 1 ms beside
  // integer depthwise ones (whose layout they share) and cost 2 ms beside float ones; the Gemm saves 0.5 ms.
  const ms = (float: Set<string>) => {
    const dwFloat = float.has('dw');
    return 20 + (dwFloat ? 0 : 8) + (float.has('c1') ? 0 : dwFloat ? 2 : -1) + (float.has('fc') ? 0 : -0.5);
  };
  const calls: string[][] = [];
  const time = async (variants: Set<string>[]) => {
    calls.push(variants.map((v) => [...v].sort().join('+')));
    return { times: variants.flatMap((v) => [[ms(v)], [10 * ms(v)]]), rounds: 3 };
  };
  const { classes: profile, rounds, steps } = await fallbackSteps(classes, time);
  assert.deepEqual(
    profile.map((c) => [c.layerClass, c.float]),
    [
      ['Conv', true],
      ['DepthwiseConv', true],
      ['Gemm', false],
    ],
  );
  assert.equal(steps, 3);
  assert.equal(rounds, 9);
  assert.deepEqual(calls[1], ['dw', 'c1+c2+dw', 'dw+fc'], 'the second step starts from the depthwise layers float');
  assert.ok(Math.abs(profile[0].speedup - 21.5 / 19.5) < 1e-12, 'Conv measured against the model with dw float');
});

test('layerClass: depthwise convolutions are their own class; grouped and dense ones are Conv', () => {
  const rng = new Rng(3);
  const graph = new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: ['N', 4, 8, 8] }],
      outputs: ['z'],
      inits: [
        { name: 'Wd', dims: [4, 1, 3, 3], values: randomTensor(rng, 36) },
        { name: 'Wg', dims: [4, 2, 1, 1], values: randomTensor(rng, 8) },
        { name: 'Wc', dims: [4, 4, 1, 1], values: randomTensor(rng, 16) },
      ],
      nodes: [
        { op: 'Conv', inputs: ['x', 'Wd'], outputs: ['d'], attrs: { group: 4, pads: [1, 1, 1, 1] } },
        { op: 'Conv', inputs: ['d', 'Wg'], outputs: ['g'], attrs: { group: 2 } },
        { op: 'Conv', inputs: ['g', 'Wc'], outputs: ['z'] },
      ],
    }),
  );
  assert.deepEqual(
    graph.nodes.map((n) => layerClass(graph, n)),
    ['DepthwiseConv', 'Conv', 'Conv'],
  );
  const points = findQuantPoints(graph, { floatLayers: ['DepthwiseConv'] });
  assert.deepEqual(
    points.filter((p) => p.kind === 'weight').map((p) => p.node),
    ['Conv_1', 'Conv_2'],
  );
});

const STATE = {
  pass: 2,
  nextUnit: 0,
  rows: [],
  macs: { passes: [] },
  scales: {},
  rng: [1],
  holdout: [],
  baselinePerImage: null,
  best: { pass: 0, scales: {} },
  trajectory: [],
  start: { chosen: 'baseline' },
} as unknown as SearchState;

test('--resume with --float-fallback keeps the layers the checkpoint was measured with; other layers do not resume', () => {
  const splits = { calibration: [], holdout: [] };
  const model = join(DEFAULT_MODEL, 'model.onnx');
  const options = resolveOptions({ method: 'evolq', floatFallback: true, resume: true });
  const out = OutputDir.open(join(tempDir(), 'out'), { keep: true });
  const fresh = openResume(out, model, splits, options, silentProgress);
  assert.equal(fresh.floatLayers, undefined, 'no checkpoint: the run measures');
  assert.notEqual(
    fresh.fingerprint([]),
    fresh.fingerprint(['/fc/Gemm']),
    'the float layers are part of the fingerprint',
  );

  writeCheckpoint(out.path(CHECKPOINT_FILE), fresh.fingerprint(['/fc/Gemm']), STATE, ['/fc/Gemm']);
  const resumed = openResume(out, model, splits, options, silentProgress);
  assert.deepEqual(resumed.floatLayers, ['/fc/Gemm']);
  assert.equal(resumed.from?.pass, 2);
  assert.throws(
    () => openResume(out, model, splits, { ...options, floatFallback: false }, silentProgress),
    /was written with other settings/,
  );
  out.abort();
});
