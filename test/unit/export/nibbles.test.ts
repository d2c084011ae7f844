import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, makeAttribute } from '../../../src/onnx/graph.js';
import { DataType } from '../../../src/onnx/proto.js';
import { findQuantPoints } from '../../../src/quant/points.js';
import { materialize } from '../../../src/quant/materialize.js';
import { calibrate } from '../../../src/calibrate/calibrate.js';
import { deployableGraph } from '../../../src/export/deployable.js';
import { packLevels, packedBits, unpackLevelBytes, unpackLevels } from '../../../src/export/nibbles.js';
import { chosenKernels } from '../../../src/export/kernels.js';
import { defaultRunner, type FloatTensor } from '../../../src/runtime/runner.js';
import { Rng } from '../../../src/rng.js';
import { buildModel, randomTensor, maxAbsDiff } from '../../helpers.js';

async function run(
  graph: Graph,
  feeds: Record<string, FloatTensor>,
  optimization: 'disabled' | 'all',
): Promise<Record<string, FloatTensor>> {
  const session = await defaultRunner.createSession(graph.toBytes(), { optimization });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

test('nibbles hold row r in the low half of a byte and row r + ⌈K/2⌉ in the high half, for even and odd K', () => {
  // K = 3, N = 2: rows 0 and 1 are low nibbles, row 2 the high nibble of the first byte row.
  assert.deepEqual([...packLevels(Uint8Array.of(1, 2, 3, 4, 15, 9), [3, 2], 4)], [0xf1, 0x92, 0x03, 0x04]);
  assert.deepEqual([...packLevels(Uint8Array.of(1, 2, 3, 4), [2, 2], 4)], [0x31, 0x42]);
  const rng = new Rng(7);
  for (const dims of [
    [6, 5],
    [7, 3],
    [1, 4],
  ]) {
    const levels = Uint8Array.from({ length: dims[0] * dims[1] }, () => Math.floor(rng.next() * 16));
    const packed = packLevels(levels, dims, 4);
    assert.equal(packed.length, Math.ceil(dims[0] / 2) * dims[1], `[${dims}]: 4 bits a weight`);
    assert.deepEqual([...unpackLevelBytes(packed, dims, 4)], [...levels], `[${dims}]`);
  }
  assert.throws(() => packLevels(Uint8Array.of(16, 0), [1, 2], 4), /level 16 at 0 does not fit 4 bits/);
});

test('2-bit levels go four to a byte, row r in part ⌊r / ⌈K/4⌉⌋, for K a multiple of 4 and not', () => {
  // K = 5, N = 1: two byte rows; rows 0, 1 in bits 0-1, rows 2, 3 in bits 2-3, row 4 in bits 4-5.
  assert.deepEqual([...packLevels(Uint8Array.of(1, 2, 3, 0, 2), [5, 1], 2)], [1 | (3 << 2) | (2 << 4), 2]);
  const rng = new Rng(5);
  for (const dims of [
    [8, 3],
    [7, 2],
    [1, 5],
  ]) {
    const levels = Uint8Array.from({ length: dims[0] * dims[1] }, () => Math.floor(rng.next() * 4));
    const packed = packLevels(levels, dims, 2);
    assert.equal(packed.length, Math.ceil(dims[0] / 4) * dims[1], `[${dims}]: 2 bits a weight`);
    assert.deepEqual([...unpackLevelBytes(packed, dims, 2)], [...levels], `[${dims}]`);
  }
  assert.throws(() => packLevels(Uint8Array.of(0, 4), [1, 2], 2), /level 4 at 1 does not fit 2 bits/);
  assert.equal(packedBits(Uint8Array.of(0, 3, 1)), 2);
  assert.equal(packedBits(Uint8Array.of(0, 4, 1)), 4);
});

for (const bits of [4, 2] as const)
  test(`onnxruntime splits ${bits}-bit packed levels into the same int8 levels, run as operators and folded at load`, async () => {
    const rng = new Rng(11);
    for (const dims of [
      [8, 4],
      [6, 4],
      [5, 3],
    ]) {
      const levels = Uint8Array.from({ length: dims[0] * dims[1] }, () => Math.floor(rng.next() * 2 ** bits));
      const graph = new Graph(
        buildModel({ inputs: [{ name: 'x', shape: [1] }], outputs: ['y'], nodes: [], opset: 21 }),
      );
      const int8 = unpackLevels(graph, 'w', packLevels(levels, dims, bits), dims, bits);
      graph.addNode({
        name: 'as_float',
        opType: 'Cast',
        domain: '',
        inputs: [int8],
        outputs: ['w_float'],
        attributes: [makeAttribute('to', DataType.FLOAT)],
      });
      graph.addNode({
        name: 'times_x',
        opType: 'Mul',
        domain: '',
        inputs: ['w_float', 'x'],
        outputs: ['y'],
        attributes: [],
      });
      const x = { data: Float32Array.of(1), dims: [1] };
      for (const optimization of ['disabled', 'all'] as const) {
        assert.deepEqual(
          [...(await run(graph, { x }, optimization)).y.data],
          [...levels],
          `[${dims}], optimization ${optimization}`,
        );
      }
      const kernels = await chosenKernels(defaultRunner, graph.toBytes());
      assert.deepEqual(
        Object.keys(kernels),
        ['Mul'],
        `[${dims}]: only the Mul by the input is left: ${JSON.stringify(kernels)}`,
      );
    }
  });

for (const bits of [4, 2] as const)
  test(`${bits}-bit packed MatMul weights (odd and even K) run as MatMulIntegerToFloat with their bias, give what the uint4 Cast gives, and take ${bits} bits a weight`, async () => {
    const rng = new Rng(13);
    const graph = new Graph(
      buildModel({
        inputs: [{ name: 'x', shape: ['N', 1, 1, 5] }],
        outputs: ['z'],
        inits: [
          { name: 'W1', dims: [5, 8], values: randomTensor(rng, 40, 0.8) },
          { name: 'B1', dims: [8], values: randomTensor(rng, 8, 0.2) },
          { name: 'W2', dims: [8, 3], values: randomTensor(rng, 24, 0.8) },
        ],
        nodes: [
          { op: 'MatMul', inputs: ['x', 'W1'], outputs: ['h'] },
          { op: 'Add', inputs: ['h', 'B1'], outputs: ['y'] },
          { op: 'MatMul', inputs: ['y', 'W2'], outputs: ['z'] },
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
    const table = await calibrate(defaultRunner, graph, 'x', points, images, {
      wBits: bits,
      aBits: 8,
      observer: 'minmax',
      ptf: false,
      lis: false,
      biasCorrection: false,
      batchSize: 16,
    });
    const deployed = deployableGraph(graph, points, table.params, {}, { widenUint4: 'nibbles' });
    const g = deployed.graph;
    const matMuls = g.nodes.filter((node) => node.opType === 'MatMulIntegerToFloat');
    assert.equal(matMuls.length, 2);
    assert.deepEqual(
      matMuls.map((node) => node.inputs.length),
      [7, 6],
      'the first one took its bias Add',
    );
    const packed = bits === 4 ? { tensors: 2, bytes: 3 * 8 + 4 * 3 } : { tensors: 2, bytes: 2 * 8 + 2 * 3 };
    assert.deepEqual(deployed.weights[bits === 4 ? 'uint4-nibbles' : 'uint2-packed'], packed);
    assert.equal(deployed.weights.uint4.tensors, 0);
    const stored = g.toModel().graph!.initializer!.filter((t) => t.dims!.length === 2);
    assert.deepEqual(
      stored.map((t) => [t.dataType, t.dims!.map(Number)]),
      [
        [DataType.UINT8, [bits === 4 ? 3 : 2, 8]],
        [DataType.UINT8, [bits === 4 ? 4 : 2, 3]],
      ],
      'only packed bytes are stored',
    );

    const x = { x: { data: images.data, dims: images.dims } };
    const cast = deployableGraph(graph, points, table.params, {}, { widenUint4: 'cast' }).graph;
    assert.deepEqual(
      [...(await run(g, x, 'all')).z.data],
      [...(await run(cast, x, 'all')).z.data],
      'the same int8 levels',
    );
    const expected = (await run(materialize(graph, points, table.params, { bake: true }).graph, x, 'disabled')).z.data;
    const actual = (await run(g, x, 'disabled')).z.data;
    assert.ok(
      maxAbsDiff(actual, expected) <= 1e-4 * Math.max(...expected.map(Math.abs)),
      `max diff ${maxAbsDiff(actual, expected)} from the simulation`,
    );
    const kernels = await chosenKernels(defaultRunner, g.toBytes());
    for (const op of ['BitwiseAnd', 'BitShift', 'Concat', 'Slice', 'Cast', 'MatMul', 'DequantizeLinear'])
      assert.equal(kernels[op], undefined, `${op} is folded or gone: ${JSON.stringify(kernels)}`);
    assert.equal(kernels['com.microsoft:MatMulIntegerToFloat'], 2, JSON.stringify(kernels));
  });
