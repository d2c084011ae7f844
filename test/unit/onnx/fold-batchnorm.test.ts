import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../../src/onnx/graph.js';
import { foldBatchNorms } from '../../../src/onnx/fold-batchnorm.js';
import { defaultRunner } from '../../../src/runtime/runner.js';
import { Rng } from '../../../src/rng.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadModel } from '../../../src/model.js';
import { buildModel, randomTensor, maxAbsDiff, DEFAULT_MODEL, FIXTURES, type TinyNode } from '../../helpers.js';

const rng = new Rng(5);

/** BatchNormalization parameters for `c` channels, far from the identity so a wrong fold shows. */
function bnInits(prefix: string, c: number) {
  return [
    { name: `${prefix}_gamma`, dims: [c], values: randomTensor(rng, c, 0.8, 1.2) },
    { name: `${prefix}_beta`, dims: [c], values: randomTensor(rng, c, 0.5) },
    { name: `${prefix}_mean`, dims: [c], values: randomTensor(rng, c, 0.5) },
    { name: `${prefix}_var`, dims: [c], values: randomTensor(rng, c, 0.3, 0.6) },
  ];
}
const bn = (prefix: string, input: string, output: string): TinyNode => ({
  op: 'BatchNormalization',
  inputs: [input, `${prefix}_gamma`, `${prefix}_beta`, `${prefix}_mean`, `${prefix}_var`],
  outputs: [output],
  floatAttrs: { epsilon: 1e-3 },
});

async function outputsOf(graph: Graph, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await defaultRunner.createSession(graph.toBytes(), { optimization: 'disabled' });
  try {
    return (await session.run({ x: { data: x, dims } }))[graph.outputs[0].name!].data;
  } finally {
    await session.release();
  }
}

/** Folds, checks the outputs are unchanged, and returns the folding report and the folded graph. */
async function foldAndCompare(graph: Graph, dims: number[]) {
  const x = randomTensor(
    rng,
    dims.reduce((a, b) => a * b, 1),
    2,
  );
  const before = await outputsOf(graph, x, dims);
  const folding = foldBatchNorms(graph);
  const after = await outputsOf(graph, x, dims);
  const range = Math.max(...before.map(Math.abs));
  assert.ok(maxAbsDiff(after, before) <= 1e-5 * range, `max difference ${maxAbsDiff(after, before)} of range ${range}`);
  return folding;
}

test('BatchNorm after a Conv folds into its weight and bias, exactly', async () => {
  const graph = new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: ['N', 3, 8, 8] }],
      outputs: ['y'],
      inits: [{ name: 'W', dims: [4, 3, 3, 3], values: randomTensor(rng, 108, 0.4) }, ...bnInits('bn', 4)],
      nodes: [
        { op: 'Conv', inputs: ['x', 'W'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
        bn('bn', 'c', 'b'),
        { op: 'Relu', inputs: ['b'], outputs: ['y'] },
      ],
    }),
  );
  const folding = await foldAndCompare(graph, [2, 3, 8, 8]);
  assert.deepEqual(
    folding.folded.map((f) => [f.into, f.side]),
    [['Conv_0', 'after']],
  );
  assert.ok(!graph.nodes.some((n) => n.opType === 'BatchNormalization'));
});

test("LeViT's Linear + BatchNorm1d over tokens folds through the Flatten and Reshape around it, with and without a bias", async () => {
  for (const withBias of [false, true]) {
    const graph = new Graph(
      buildModel({
        inputs: [{ name: 'x', shape: ['N', 5, 6] }],
        outputs: ['y'],
        inits: [
          { name: 'W', dims: [6, 4], values: randomTensor(rng, 24, 0.5) },
          { name: 'b', dims: [4], values: randomTensor(rng, 4, 0.3) },
          ...bnInits('bn', 4),
        ],
        nodes: [
          { op: 'MatMul', inputs: ['x', 'W'], outputs: [withBias ? 'm' : 'l'] },
          ...(withBias ? [{ op: 'Add', inputs: ['m', 'b'], outputs: ['l'] }] : []),
          { op: 'Flatten', inputs: ['l'], outputs: ['f'], attrs: { axis: 2 } },
          bn('bn', 'f', 'n'),
          { op: 'Shape', inputs: ['l'], outputs: ['shape'] },
          { op: 'Reshape', inputs: ['n', 'shape'], outputs: ['y'] },
        ],
      }),
    );
    const folding = await foldAndCompare(graph, [3, 5, 6]);
    assert.equal(folding.folded.length, 1, JSON.stringify(folding.kept));
    assert.equal(folding.folded[0].side, 'after');
    assert.equal(graph.nodes.filter((n) => n.opType === 'Add').length, 1, 'the bias is one Add after the MatMul');
  }
});

test('a BatchNorm before the classifier (BN_Linear) folds into the Gemm or MatMul after it', async () => {
  for (const op of ['Gemm', 'MatMul'] as const) {
    const graph = new Graph(
      buildModel({
        inputs: [{ name: 'x', shape: ['N', 5, 6] }],
        outputs: ['y'],
        inits: [
          { name: 'W', dims: op === 'Gemm' ? [3, 6] : [6, 3], values: randomTensor(rng, 18, 0.5) },
          { name: 'b', dims: [3], values: randomTensor(rng, 3, 0.3) },
          ...bnInits('bn', 6),
        ],
        nodes: [
          { op: 'ReduceMean', inputs: ['x'], outputs: ['pooled'], attrs: { axes: [1], keepdims: 0 } },
          bn('bn', 'pooled', 'n'),
          op === 'Gemm'
            ? { op: 'Gemm', inputs: ['n', 'W', 'b'], outputs: ['y'], attrs: { transB: 1 }, floatAttrs: { alpha: 0.5 } }
            : { op: 'MatMul', inputs: ['n', 'W'], outputs: ['y'] },
        ],
      }),
    );
    const folding = await foldAndCompare(graph, [2, 5, 6]);
    assert.deepEqual(
      folding.folded.map((f) => f.side),
      ['before'],
      `${op}: ${JSON.stringify(folding.kept)}`,
    );
  }
});

test('a BatchNorm whose channels cannot be matched to a layer stays, with the reason', async () => {
  const graph = new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: ['N', 4, 6] }],
      outputs: ['y'],
      inits: [{ name: 'W', dims: [6, 4], values: randomTensor(rng, 24, 0.5) }, ...bnInits('bn', 4)],
      nodes: [
        // [N, 4 tokens, 4 channels] read as [N, C=4, L=4] by BatchNorm: channels are tokens here, not the MatMul's outputs.
        { op: 'MatMul', inputs: ['x', 'W'], outputs: ['l'] },
        bn('bn', 'l', 'y'),
      ],
    }),
  );
  const folding = await foldAndCompare(graph, [2, 4, 6]);
  assert.equal(folding.folded.length, 0);
  assert.match(folding.kept[0].reason, /cannot tell that its channel axis is the output channel axis of 'MatMul_0'/);
  assert.equal(graph.nodes.filter((n) => n.opType === 'BatchNormalization').length, 1);
});

test('on every fixture model the folded graph computes what the file does', async () => {
  const dirs = [
    DEFAULT_MODEL,
    ...readdirSync(FIXTURES)
      .map((n) => join(FIXTURES, n))
      .filter((d) => existsSync(join(d, 'model.onnx'))),
  ];
  for (const dir of dirs) {
    const model = loadModel(dir);
    const p = model.preprocessing;
    const dims = [2, p.channels, p.height, p.width];
    const x = randomTensor(
      rng,
      dims.reduce((a, b) => a * b, 1),
      1.5,
    );
    const logits = async (bytes: Uint8Array) => {
      const session = await defaultRunner.createSession(bytes);
      try {
        return (await session.run({ [model.inputName]: { data: x, dims } }))[model.outputName].data;
      } finally {
        await session.release();
      }
    };
    const original = await logits(readFileSync(model.file));
    const folded = await logits(model.graph.toBytes());
    const range = Math.max(...original.map(Math.abs));
    assert.ok(
      maxAbsDiff(folded, original) <= 1e-4 * range,
      `${basename(dir)}: ${maxAbsDiff(folded, original)} of ${range}`,
    );
  }
});
