import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../../src/onnx/graph.js';
import { onnx } from '../../../src/onnx/proto.js';
import { findQuantPoints } from '../../../src/quant/points.js';
import { calibrate } from '../../../src/calibrate/calibrate.js';
import { chosenKernels } from '../../../src/export/kernels.js';
import { defaultRunner } from '../../../src/runtime/runner.js';
import { layerModels, layerTimes } from '../../../src/widths/layer-times.js';
import { silentProgress } from '../../../src/progress.js';
import { Rng } from '../../../src/rng.js';
import { buildModel, maxAbsDiff, randomTensor, runModel } from '../../helpers.js';

test('a layer cut out alone takes its bias and activation, runs on the integer kernel, and computes what float does', async () => {
  const rng = new Rng(5);
  const graph = new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: ['N', 1, 1, 16] }],
      outputs: ['z'],
      inits: [
        { name: 'W1', dims: [16, 32], values: randomTensor(rng, 512, 0.5) },
        { name: 'B1', dims: [32], values: randomTensor(rng, 32, 0.2) },
        { name: 'W2', dims: [32, 4], values: randomTensor(rng, 128, 0.5) },
      ],
      nodes: [
        { op: 'Flatten', inputs: ['x'], outputs: ['f'] },
        { op: 'MatMul', inputs: ['f', 'W1'], outputs: ['m'] },
        { op: 'Add', inputs: ['m', 'B1'], outputs: ['h'] },
        { op: 'Relu', inputs: ['h'], outputs: ['y'] },
        { op: 'MatMul', inputs: ['y', 'W2'], outputs: ['z'] },
      ],
    }),
  );
  const n = 32;
  const images = {
    data: randomTensor(rng, n * 16, 1),
    dims: [n, 1, 1, 16] as [number, number, number, number],
    labels: new Int32Array(n),
  };
  const points = findQuantPoints(graph);
  const table = await calibrate(defaultRunner, graph, 'x', points, images, {
    wBits: 8,
    aBits: 8,
    observer: 'minmax',
    ptf: false,
    lis: false,
    biasCorrection: false,
    batchSize: n,
  });
  const m = { graph, points, params: table.params, inputMeans: undefined, format: 'per-channel' as const };
  const weights = points.filter((p) => p.kind === 'weight');
  assert.deepEqual(
    weights.map((w) => w.node),
    [graph.nodes[1].name, graph.nodes[4].name],
  );
  const first = layerModels(m, weights[0]);
  assert.equal(first.input, 'f');
  const float = new Graph(onnx.ModelProto.decode(first.float));
  // MatMul, its bias and its activation: onnxruntime runs them as one kernel in both.
  assert.deepEqual(
    float.nodes.map((node) => node.opType),
    ['MatMul', 'Add', 'Relu'],
  );
  assert.deepEqual(
    float.outputs.map((o) => o.name),
    ['y'],
  );
  const kernels = await chosenKernels(defaultRunner, first.integer);
  assert.equal(kernels.MatMul ?? 0, 0, JSON.stringify(kernels));
  assert.ok(
    (kernels['com.microsoft:MatMulIntegerToFloat'] ?? 0) + (kernels.QLinearMatMul ?? 0) === 1,
    JSON.stringify(kernels),
  );
  const x = { f: { data: images.data, dims: [n, 16] } };
  const [expected, actual] = [(await runModel(first.float, x)).y.data, (await runModel(first.integer, x)).y.data];
  const range = Math.max(...expected.map(Math.abs));
  assert.ok(maxAbsDiff(actual, expected) < 0.05 * range, `max diff ${maxAbsDiff(actual, expected)} of ${range}`);
  const times = await layerTimes(
    defaultRunner,
    m,
    weights,
    { x: { data: images.data.subarray(0, 16), dims: [1, 1, 1, 16] } },
    silentProgress,
  );
  assert.deepEqual(
    Object.keys(times),
    weights.map((w) => w.id),
  );
  for (const t of Object.values(times)) assert.ok(t.float > 0 && t.integer > 0, JSON.stringify(t));
});
