import { test } from 'node:test';
import { weightLevelBits } from '../../../src/quant/scheme.js';
import assert from 'node:assert/strict';
import { Graph } from '../../../src/onnx/graph.js';
import { findQuantPoints } from '../../../src/quant/points.js';
import { materialize } from '../../../src/quant/materialize.js';
import { calibrate } from '../../../src/calibrate/calibrate.js';
import { deployableGraph } from '../../../src/export/deployable.js';
import { chosenKernels } from '../../../src/export/kernels.js';
import { defaultRunner } from '../../../src/runtime/runner.js';
import { buildModel, randomTensor, maxAbsDiff } from '../../helpers.js';
import { Rng } from '../../../src/rng.js';
import { runModel as run } from '../../helpers.js';

const count = (g: Graph, op: string) => g.nodes.filter((n) => n.opType === op).length;

test('Gemms (transB 1 and 0, with and without the weight correction, 8 and 4-bit) run as MatMulIntegerToFloat with their bias and match the simulation', async () => {
  const rng = new Rng(17);
  const graph = new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: ['N', 1, 1, 5] }],
      outputs: ['z'],
      inits: [
        { name: 'W1', dims: [8, 5], values: randomTensor(rng, 40, 0.8) },
        { name: 'B1', dims: [8], values: randomTensor(rng, 8, 0.2) },
        { name: 'W2', dims: [8, 3], values: randomTensor(rng, 24, 0.8) },
        { name: 'B2', dims: [3], values: randomTensor(rng, 3, 0.2) },
      ],
      nodes: [
        { op: 'Flatten', inputs: ['x'], outputs: ['f'] },
        { op: 'Gemm', inputs: ['f', 'W1', 'B1'], outputs: ['h'], attrs: { transB: 1 } },
        { op: 'Relu', inputs: ['h'], outputs: ['y'] },
        { op: 'Gemm', inputs: ['y', 'W2', 'B2'], outputs: ['z'], floatAttrs: { alpha: 1, beta: 1 } },
      ],
    }),
  );
  const n = 16;
  const images = {
    data: randomTensor(rng, n * 5, 1, 0.5),
    dims: [n, 1, 1, 5] as [number, number, number, number],
    labels: new Int32Array(n),
  };
  const points = findQuantPoints(graph);
  const x = { x: { data: images.data, dims: images.dims } };
  for (const [wBits, weightCorrection, widenUint4] of [
    [8, false, undefined],
    [8, true, undefined],
    [4, false, 'nibbles'],
    [4, true, 'cast'],
  ] as const) {
    const name = `W${wBits}${weightCorrection ? ' corrected' : ''}`;
    const table = await calibrate(defaultRunner, graph, 'x', points, images, {
      wBits: weightLevelBits(wBits, true),
      aBits: 8,
      observer: 'minmax',
      ptf: false,
      lis: false,
      biasCorrection: false,
      weightCorrection,
      batchSize: 16,
    });
    const g = deployableGraph(graph, points, table.params, {}, { widenUint4 }).graph;
    assert.equal(count(g, 'Gemm'), 0, name);
    const kernels = g.nodes.filter((node) => node.opType === 'MatMulIntegerToFloat');
    assert.deepEqual(
      kernels.map((node) => node.inputs.length),
      [7, 7],
      `${name}: both took their bias`,
    );
    const stored = g
      .toModel()
      .graph!.initializer!.filter((t) => t.dims!.length === 2)
      .map((t) => t.dims!.map(Number));
    assert.deepEqual(
      stored.sort(),
      widenUint4 === 'nibbles'
        ? [
            [3, 8],
            [4, 3],
          ]
        : [
            [5, 8],
            [8, 3],
          ],
      `${name}: W1 stored once, transposed to [K, N]`,
    );
    assert.equal((await chosenKernels(defaultRunner, g.toBytes()))['com.microsoft:MatMulIntegerToFloat'], 2, name);
    // Unoptimized: onnxruntime's own fusion of the simulation's Q/DQ can move a 4-bit output by a level.
    const expected = (
      await run(materialize(graph, points, table.params, { bake: true }).graph.toBytes(), x, 'disabled')
    ).z.data;
    const actual = (await run(g.toBytes(), x)).z.data;
    assert.ok(
      maxAbsDiff(actual, expected) <= 1e-4 * Math.max(...expected.map(Math.abs)),
      `${name}: max diff ${maxAbsDiff(actual, expected)} from the simulation`,
    );
  }
});
