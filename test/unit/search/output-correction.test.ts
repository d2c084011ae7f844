import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../../src/onnx/graph.js';
import { findQuantPoints } from '../../../src/quant/points.js';
import { materialize } from '../../../src/quant/materialize.js';
import { calibrate } from '../../../src/calibrate/calibrate.js';
import { defaultRunner } from '../../../src/runtime/runner.js';
import { deployableGraph } from '../../../src/export/deployable.js';
import {
  correctedLayers,
  correctionFetches,
  outputCorrections,
  withOutputCorrections,
} from '../../../src/search/output-correction.js';
import { forwardCost } from '../../../src/fitness/cost.js';
import { resolveOptions } from '../../../src/options/resolve.js';
import { Rng } from '../../../src/rng.js';
import { buildModel, randomTensor, maxAbsDiff } from '../../helpers.js';
import { floatValueInfo } from '../../../src/onnx/proto.js';

/** x [N,2,4,4] → Conv 1×1 (3 out) + bias → Relu → MatMul with W [4,5] on the last axis, + bias → y [N,3,4,5]. */
function convReluMatMul(rng: Rng) {
  return new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: ['N', 2, 4, 4] }],
      outputs: ['y'],
      inits: [
        { name: 'Wc', dims: [3, 2, 1, 1], values: randomTensor(rng, 6, 0.8) },
        { name: 'Bc', dims: [3], values: randomTensor(rng, 3, 0.1) },
        { name: 'Wm', dims: [4, 5], values: randomTensor(rng, 20, 0.8) },
        { name: 'Bm', dims: [5], values: randomTensor(rng, 5, 0.1) },
      ],
      nodes: [
        { op: 'Conv', inputs: ['x', 'Wc', 'Bc'], outputs: ['h'] },
        { op: 'Relu', inputs: ['h'], outputs: ['r'] },
        { op: 'MatMul', inputs: ['r', 'Wm'], outputs: ['m'] },
        { op: 'Add', inputs: ['m', 'Bm'], outputs: ['y'] },
      ],
    }),
  );
}

/** Per-channel means of a [N, C, H, W] tensor on `axis` 1, or of any tensor on its last axis. */
function means(t: { data: Float32Array; dims: readonly number[] }, axis: 1 | -1): number[] {
  const channels = axis === 1 ? t.dims[1] : t.dims[t.dims.length - 1];
  const inner = axis === 1 ? t.dims.slice(2).reduce((a, b) => a * b, 1) : 1;
  const sums = new Array(channels).fill(0);
  t.data.forEach((v, i) => (sums[Math.floor(i / inner) % channels] += v));
  return sums.map((s) => (s * channels) / t.data.length);
}

async function setup() {
  const rng = new Rng(21);
  const graph = convReluMatMul(rng);
  const n = 48;
  const images = {
    data: randomTensor(rng, n * 32, 1, 0.5),
    dims: [n, 2, 4, 4] as [number, number, number, number],
    labels: new Int32Array(n),
  };
  const points = findQuantPoints(graph);
  const table = await calibrate(defaultRunner, graph, 'x', points, images, {
    wBits: 3,
    aBits: 4,
    observer: 'minmax',
    ptf: false,
    lis: false,
    biasCorrection: false,
    batchSize: 16,
  });
  const simulate = (params: typeof table.params) => materialize(graph, points, params, { bake: true });
  const outputs = async (model: Graph, count = n) => {
    const probe = model.clone();
    for (const t of ['h', 'm']) if (!probe.isGraphOutput(t)) probe.outputs.push(floatValueInfo(t));
    // Unoptimized, as the corrections are measured here: onnxruntime's constant folding rounds one of these weights to
    // the next level (a Conv output 0.0035 apart), the exact computation does not.
    const session = await defaultRunner.createSession(probe.toBytes(), { optimization: 'disabled' });
    const out = await session.run({ x: { data: images.data.subarray(0, count * 32), dims: [count, 2, 4, 4] } });
    await session.release();
    return out;
  };
  return { graph, images, points, table, simulate, outputs };
}

test("output correction: layer by layer, each layer's mean output on the images used equals the float model's", async () => {
  const { graph, images, points, table, simulate, outputs } = await setup();
  assert.deepEqual(
    correctedLayers(graph, points, table.params).map((p) => p.node),
    [graph.producer('h')!.name, graph.producer('m')!.name],
  );
  const used = 32;
  const corrections = await outputCorrections(
    {
      runner: defaultRunner,
      graph,
      points,
      inputName: 'x',
      batchSize: 10,
      simulate,
      sessionOptions: { optimization: 'disabled' },
    },
    table.params,
    images,
    used,
  );
  assert.equal(Object.keys(corrections).length, 2);
  const float = await outputs(graph, used);
  const gaps = async (params: typeof table.params) => {
    const out = await outputs(simulate(params).graph, used);
    return [
      ['h', 1],
      ['m', -1],
    ].map(([t, axis]) =>
      Math.max(
        ...means(out[t as string], axis as 1 | -1).map((v, c) =>
          Math.abs(v - means(float[t as string], axis as 1 | -1)[c]),
        ),
      ),
    );
  };
  const plain = await gaps(table.params);
  assert.ok(Math.max(...plain) > 1e-2, `4-bit activations and 3-bit weights shift the means (${plain})`);
  const corrected = await gaps(withOutputCorrections(table.params, corrections));
  for (const gap of corrected) assert.ok(gap < 1e-4, `corrected mean gap ${corrected}`);
  // Measured over again, not on top of corrections already there.
  const again = await outputCorrections(
    {
      runner: defaultRunner,
      graph,
      points,
      inputName: 'x',
      batchSize: 10,
      simulate,
      sessionOptions: { optimization: 'disabled' },
    },
    withOutputCorrections(table.params, corrections),
    images,
    used,
  );
  for (const id of Object.keys(corrections))
    assert.ok(maxAbsDiff(again[id], corrections[id]) < 1e-5, `${id}: remeasured`);
});

test('output correction: the export folds it into the biases and computes what the simulation does', async () => {
  const { graph, points, table, simulate, outputs, images } = await setup();
  const corrections = await outputCorrections(
    {
      runner: defaultRunner,
      graph,
      points,
      inputName: 'x',
      batchSize: 16,
      simulate,
      sessionOptions: { optimization: 'disabled' },
    },
    table.params,
    images,
  );
  const params = withOutputCorrections(table.params, corrections);
  const deployed = deployableGraph(graph, points, params, {}, { integerKernels: false });
  assert.equal(
    deployed.graph.nodes.filter((n) => n.name.endsWith('/bias_corrected')).length,
    0,
    'folded into the Conv bias and the Add, no Sub after either layer',
  );
  const [expected, actual] = [await outputs(simulate(params).graph), await outputs(deployed.graph)];
  assert.ok(
    maxAbsDiff(actual.y.data, expected.y.data) < 1e-4,
    `export ${maxAbsDiff(actual.y.data, expected.y.data)} from the simulation`,
  );
  const uncorrected = await outputs(simulate(table.params).graph);
  assert.ok(maxAbsDiff(uncorrected.y.data, expected.y.data) > 1e-3, 'the correction changes the output');
});

/**
 * x [N,4,6,1] → ReduceMean on the last axis (images are 4-D) → [N,4,6] → MatMul with W [6,5], + bias → y [N,4,5]:
 * tokens on axis 1. With `sequenceFirst` a Transpose puts the batch on axis 1 first, so the MatMul writes [4,N,5].
 */
function tokenMatMul(rng: Rng, sequenceFirst: boolean) {
  return new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: ['N', 4, 6, 1] }],
      outputs: ['y'],
      inits: [
        { name: 'W', dims: [6, 5], values: randomTensor(rng, 30, 0.8) },
        { name: 'B', dims: [5], values: randomTensor(rng, 5, 0.1) },
      ],
      nodes: [
        { op: 'ReduceMean', inputs: ['x'], outputs: ['r'], attrs: { axes: [3], keepdims: 0 } },
        ...(sequenceFirst ? [{ op: 'Transpose', inputs: ['r'], outputs: ['t'], attrs: { perm: [1, 0, 2] } }] : []),
        { op: 'MatMul', inputs: [sequenceFirst ? 't' : 'r', 'W'], outputs: ['m'] },
        { op: 'Add', inputs: ['m', 'B'], outputs: ['y'] },
      ],
    }),
  );
}

test("output correction: a MatMul writing [batch, tokens, channels] gets its first token corrected apart from the others; the export folds the others' row into the bias", async () => {
  const rng = new Rng(22);
  const n = 40;
  const images = {
    data: randomTensor(rng, n * 24, 1, 0.5),
    dims: [n, 4, 6, 1] as [number, number, number, number],
    labels: new Int32Array(n),
  };
  for (const sequenceFirst of [false, true]) {
    const graph = tokenMatMul(rng, sequenceFirst);
    const points = findQuantPoints(graph);
    const table = await calibrate(defaultRunner, graph, 'x', points, images, {
      wBits: 3,
      aBits: 4,
      observer: 'minmax',
      ptf: false,
      lis: false,
      biasCorrection: false,
      batchSize: 16,
    });
    const simulate = (params: typeof table.params) => materialize(graph, points, params, { bake: true });
    const run = async (model: Graph) => {
      const probe = model.clone();
      if (!probe.isGraphOutput('m')) probe.outputs.push(floatValueInfo('m'));
      const session = await defaultRunner.createSession(probe.toBytes(), { optimization: 'disabled' });
      const out = await session.run({ x: { data: images.data, dims: [n, 4, 6, 1] } });
      await session.release();
      return out;
    };
    const corrections = await outputCorrections(
      {
        runner: defaultRunner,
        graph,
        points,
        inputName: 'x',
        batchSize: 16,
        simulate,
        sessionOptions: { optimization: 'disabled' },
      },
      table.params,
      images,
      n,
    );
    const [correction] = Object.values(corrections);
    if (sequenceFirst) {
      // Axis 1 is the batch there: one value per channel, as for any other layer.
      assert.equal(correction.length, 5);
      continue;
    }
    assert.equal(correction.length, 2 * 5, 'a row of channels for the first token, one for the others');
    const params = withOutputCorrections(table.params, corrections);
    /** The mean of m over the images: the first token's per channel, then the other tokens' together. */
    const rowMeans = (m: { data: Float32Array }) =>
      Array.from({ length: 10 }, (_, i) => {
        const picked = m.data.filter((_, j) => j % 5 === i % 5 && (i < 5 ? j % 20 < 5 : j % 20 >= 5));
        return picked.reduce((a, b) => a + b, 0) / picked.length;
      });
    const float = rowMeans((await run(graph)).m);
    const gap = (m: { data: Float32Array }) => Math.max(...rowMeans(m).map((v, i) => Math.abs(v - float[i])));
    const [plain, corrected] = [
      gap((await run(simulate(table.params).graph)).m),
      gap((await run(simulate(params).graph)).m),
    ];
    assert.ok(
      plain > 1e-2 && corrected < 1e-4,
      `first-token and other-token mean gap ${plain} uncorrected, ${corrected} corrected`,
    );
    const apart = Math.max(...[0, 1, 2, 3, 4].map((c) => Math.abs(correction[c] - correction[5 + c])));
    assert.ok(
      apart > 1e-3,
      `the first token's correction differs from the others' (by up to ${apart}): one per channel would leave one of them off`,
    );
    const deployed = deployableGraph(graph, points, params, {}, { integerKernels: false });
    const add = deployed.graph.nodes.find((node) => node.opType === 'Add')!;
    assert.deepEqual(
      deployed.graph.constantValue(add.inputs[1])?.dims,
      [5],
      "the other tokens' row goes into the bias, which keeps its shape",
    );
    assert.deepEqual(
      deployed.graph.nodes
        .filter((node) => ['Slice', 'Sub', 'Concat'].includes(node.opType))
        .map((node) => node.opType)
        .sort(),
      ['Concat', 'Slice', 'Slice', 'Sub'],
      "the first token's difference after the Add",
    );
    const [expected, actual] = [await run(simulate(params).graph), await run(deployed.graph)];
    assert.ok(
      maxAbsDiff(actual.y.data, expected.y.data) < 1e-4,
      `export ${maxAbsDiff(actual.y.data, expected.y.data)} from the simulation`,
    );
  }
});

test('output correction is on by default below 8-bit activations only, off in the paper preset, and the options override both', () => {
  assert.equal(resolveOptions({ aBits: 4 }).outputCorrection, true);
  assert.equal(resolveOptions({ aBits: 8 }).outputCorrection, false);
  assert.equal(resolveOptions({ aBits: 4, preset: 'paper' }).outputCorrection, false);
  assert.equal(resolveOptions({ aBits: 4, outputCorrection: false }).outputCorrection, false);
  assert.equal(resolveOptions({ aBits: 8, outputCorrection: true }).outputCorrection, true);
});

test('output correction: its forwards fetch all layers from the float model, then each layer alone, each counted in the MACs up to what it fetches', async () => {
  const { graph, images, points, table } = await setup();
  const fetches = correctionFetches(graph, points, table.params);
  assert.deepEqual(fetches, [['h', 'm'], ['h'], ['m']]);
  const cost = await forwardCost(
    defaultRunner,
    graph,
    'x',
    { data: images.data.subarray(0, 32), dims: [1, 2, 4, 4] },
    [],
  );
  // Conv: 3×4×4 outputs × 2 inputs each; MatMul: 3×4×5 outputs × 4.
  assert.equal(cost.perImage, 96 + 240);
  assert.deepEqual(
    fetches.map((f) => cost.upTo(f)),
    [336, 96, 336],
  );
  assert.equal(cost.upTo(['r']), 96, 'the Relu after the Conv adds nothing counted');
  assert.equal(cost.upTo(['x']), 0);
});
