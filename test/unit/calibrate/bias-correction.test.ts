import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../../src/onnx/graph.js';
import { findQuantPoints } from '../../../src/quant/points.js';
import { materialize, simulationFeeds } from '../../../src/quant/materialize.js';
import { calibrate } from '../../../src/calibrate/calibrate.js';
import { defaultRunner } from '../../../src/runtime/runner.js';
import { Rng } from '../../../src/rng.js';
import { buildModel, randomTensor, maxAbsDiff } from '../../helpers.js';
import { deployableGraph } from '../../../src/export/deployable.js';

/** x [N,2,4,4] → Conv 1×1 (3 out) + bias → MatMul with W [4,5] on the last axis → y [N,3,4,5]. */
function convThenMatMul(rng: Rng) {
  return new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: ['N', 2, 4, 4] }],
      outputs: ['h', 'y'],
      inits: [
        { name: 'Wc', dims: [3, 2, 1, 1], values: randomTensor(rng, 6, 0.8) },
        { name: 'Bc', dims: [3], values: randomTensor(rng, 3, 0.1) },
        { name: 'Wm', dims: [4, 5], values: randomTensor(rng, 20, 0.8) },
      ],
      nodes: [
        { op: 'Conv', inputs: ['x', 'Wc', 'Bc'], outputs: ['h'] },
        { op: 'MatMul', inputs: ['h', 'Wm'], outputs: ['y'] },
      ],
    }),
  );
}

function channelMeans(y: Float32Array, channels: number): number[] {
  const sums = new Array(channels).fill(0);
  y.forEach((v, i) => (sums[i % channels] += v));
  return sums.map((s) => (s * channels) / y.length);
}

test('bias correction makes the mean output of weight-quantized layers equal the float mean', async () => {
  const rng = new Rng(11);
  const graph = convThenMatMul(rng);
  const n = 64;
  const images = {
    data: randomTensor(rng, n * 32, 1, 2),
    dims: [n, 2, 4, 4] as [number, number, number, number],
    labels: new Int32Array(n),
  };
  const points = findQuantPoints(graph);
  const table = await calibrate(defaultRunner, graph, 'x', points, images, {
    wBits: 3,
    aBits: 8,
    observer: 'minmax',
    ptf: false,
    lis: false,
    biasCorrection: true,
    batchSize: 16,
  });
  assert.deepEqual(Object.keys(table.inputMeans!).sort(), ['w0', 'w1']);
  const outputs = async (model: Graph, feeds = {}) => {
    const session = await defaultRunner.createSession(model.toBytes());
    const out = await session.run({ x: { data: images.data, dims: images.dims }, ...feeds });
    await session.release();
    return out;
  };
  const float = await outputs(graph);
  // Each layer alone: the Conv's mean per output channel (axis 1), the MatMul's per output column (last axis).
  const cases = [
    {
      id: 'w0',
      tensor: 'h',
      means: (t: Float32Array) => {
        const m = [0, 0, 0];
        t.forEach((v, i) => (m[Math.floor(i / 16) % 3] += v / (n * 16)));
        return m;
      },
    },
    { id: 'w1', tensor: 'y', means: (t: Float32Array) => channelMeans(t, 5) },
  ];
  for (const c of cases) {
    const gapWith = async (inputMeans?: typeof table.inputMeans) => {
      const sim = materialize(graph, points, table.params, { enabled: new Set([c.id]), inputMeans });
      const out = await outputs(sim.graph, simulationFeeds(sim, points, table.params));
      const expected = c.means(float[c.tensor].data);
      return Math.max(...c.means(out[c.tensor].data).map((v, i) => Math.abs(v - expected[i])));
    };
    const plain = await gapWith(undefined);
    const corrected = await gapWith(table.inputMeans);
    assert.ok(plain > 1e-2, `${c.id}: 3-bit weights shift the mean (${plain})`);
    assert.ok(corrected < 1e-4, `${c.id}: corrected mean gap ${corrected}`);
  }
});

test('bias correction of Gemms with alpha and beta or a transposed input: the simulation and the export both shift by alpha·(Ŵ − W)·E[x]', async () => {
  const rng = new Rng(12);
  const n = 64;
  // y = 0.5·x·Wᵀ + 2·C, z = 1.5·x·Vᵀ with no C (beta then says nothing), g = x·U read through a transpose.
  const graph = new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: ['N', 4, 1, 1] }],
      outputs: ['y', 'z', 'g'],
      inits: [
        { name: 'U', dims: [4, 5], values: randomTensor(rng, 20, 0.8) },
        { name: 'W', dims: [5, 4], values: randomTensor(rng, 20, 0.8) },
        { name: 'C', dims: [5], values: randomTensor(rng, 5, 0.1) },
        { name: 'V', dims: [5, 4], values: randomTensor(rng, 20, 0.8) },
      ],
      nodes: [
        { op: 'Flatten', inputs: ['x'], outputs: ['f'] },
        {
          op: 'Gemm',
          inputs: ['f', 'W', 'C'],
          outputs: ['y'],
          attrs: { transB: 1 },
          floatAttrs: { alpha: 0.5, beta: 2 },
        },
        { op: 'Gemm', inputs: ['f', 'V'], outputs: ['z'], attrs: { transB: 1 }, floatAttrs: { alpha: 1.5 } },
        // g = (fᵀ)ᵀ·U: a Gemm that reads its input transposed, so the input's channels are on its first axis.
        { op: 'Transpose', inputs: ['f'], outputs: ['ft'], attrs: { perm: [1, 0] } },
        { op: 'Gemm', inputs: ['ft', 'U'], outputs: ['g'], attrs: { transA: 1 } },
      ],
    }),
  );
  const images = {
    data: randomTensor(rng, n * 4, 1, 2),
    dims: [n, 4, 1, 1] as [number, number, number, number],
    labels: new Int32Array(n),
  };
  const x = { data: images.data, dims: images.dims };
  const points = findQuantPoints(graph);
  const table = await calibrate(defaultRunner, graph, 'x', points, images, {
    wBits: 3,
    aBits: 8,
    observer: 'minmax',
    ptf: false,
    lis: false,
    biasCorrection: true,
    batchSize: 16,
  });
  const weights = points.filter((p) => p.kind === 'weight').map((p) => p.id);
  assert.equal(Object.keys(table.inputMeans!).length, 3);
  const outputs = async (model: Graph) => {
    const session = await defaultRunner.createSession(model.toBytes(), { optimization: 'disabled' });
    const out = await session.run({ x });
    await session.release();
    return out;
  };
  const float = await outputs(graph);
  const weightsOnly = materialize(graph, points, table.params, {
    bake: true,
    enabled: new Set(weights),
    inputMeans: table.inputMeans,
  }).graph;
  const simulated = await outputs(weightsOnly);
  for (const t of ['y', 'z', 'g']) {
    const gap = Math.max(
      ...channelMeans(simulated[t].data, 5).map((v, i) => Math.abs(v - channelMeans(float[t].data, 5)[i])),
    );
    assert.ok(gap < 1e-4, `${t}: corrected mean gap ${gap}`);
  }
  const sim = materialize(graph, points, table.params, { bake: true, inputMeans: table.inputMeans }).graph;
  const deployed = deployableGraph(graph, points, table.params, table.inputMeans).graph;
  const [expected, actual] = [await outputs(sim), await outputs(deployed)];
  for (const t of ['y', 'z', 'g'])
    assert.ok(
      maxAbsDiff(actual[t].data, expected[t].data) < 1e-5,
      `${t}: export ${maxAbsDiff(actual[t].data, expected[t].data)} from the simulation`,
    );
});
