import { test } from 'node:test';
import { weightLevelBits } from '../../../src/quant/scheme.js';
import assert from 'node:assert/strict';
import { Graph } from '../../../src/onnx/graph.js';
import { upgradeOpset } from '../../../src/onnx/opset.js';
import { DataType, floatTensor, onnx } from '../../../src/onnx/proto.js';
import { findQuantPoints } from '../../../src/quant/points.js';
import { materialize } from '../../../src/quant/materialize.js';
import { calibrate } from '../../../src/calibrate/calibrate.js';
import { deployableGraph, quantizeWeight } from '../../../src/export/deployable.js';
import { integerTensor } from '../../../src/export/nibbles.js';
import { fakeQuantUniform, uintRange, type UniformParams } from '../../../src/quant/scheme.js';
import { defaultRunner } from '../../../src/runtime/runner.js';
import { Rng } from '../../../src/rng.js';
import { buildModel, randomTensor, maxAbsDiff } from '../../helpers.js';
import { runModel as run } from '../../helpers.js';

test('uint4 levels are packed low nibble first, as onnxruntime reads them per axis', async () => {
  const levels = Uint8Array.from([1, 15, 0, 7, 9, 3, 12, 5, 2]); // 3 channels × 3, odd length
  const packed = integerTensor('w', [3, 3], levels, 'uint4');
  assert.deepEqual([...packed.rawData!], [0xf1, 0x70, 0x39, 0x5c, 0x02]);
  const scale = Float32Array.of(0.5, 0.25, 2);
  const zero = Uint8Array.of(8, 0, 3);
  const model = buildModel({
    inputs: [{ name: 'x', shape: [1] }],
    outputs: ['y'],
    nodes: [
      { op: 'DequantizeLinear', inputs: ['w', 's', 'z'], outputs: ['d'], attrs: { axis: 0 } },
      { op: 'Mul', inputs: ['d', 'x'], outputs: ['y'] },
    ],
    opset: 21,
  });
  model.irVersion = 10;
  model.graph!.initializer!.push(packed, floatTensor('s', [3], scale), integerTensor('z', [3], zero, 'uint4'));
  const out = await run(onnx.ModelProto.encode(model).finish(), { x: { data: Float32Array.of(1), dims: [1] } });
  const expected = [...levels].map((l, i) => (l - zero[Math.floor(i / 3)]) * scale[Math.floor(i / 3)]);
  assert.deepEqual([...out.y.data], expected);
});

test('weight levels reproduce the fake quantizer exactly, per channel on any axis', () => {
  const rng = new Rng(3);
  const dims = [4, 6];
  const values = randomTensor(rng, 24, 1.5);
  for (const axis of [0, 1]) {
    const c = dims[axis];
    const p: UniformParams = {
      kind: 'uniform',
      bits: 3,
      axis,
      scale: Float32Array.from({ length: c }, (_, i) => 0.1 + 0.05 * i),
      zeroPoint: Float32Array.from({ length: c }, (_, i) => i % 8),
    };
    const { levels, dequantized } = quantizeWeight(values, dims, axis, p);
    const channelOf = (i: number) => (axis === 0 ? Math.floor(i / 6) : i % 6);
    assert.deepEqual([...dequantized], [...fakeQuantUniform(values, p.scale, p.zeroPoint, uintRange(3), channelOf)]);
    assert.ok(levels.every((l) => l <= 7));
  }
});

test('opset upgrade moves reduction axes to an input and keeps outputs; GroupNormalization is refused', async () => {
  const model = buildModel({
    inputs: [{ name: 'x', shape: [2, 3, 4] }],
    outputs: ['y'],
    nodes: [
      { op: 'ReduceMean', inputs: ['x'], outputs: ['m'], attrs: { axes: [-1], keepdims: 1 } },
      { op: 'Sub', inputs: ['x', 'm'], outputs: ['y'] },
    ],
  });
  const graph = new Graph(model);
  const x = { data: randomTensor(new Rng(1), 24), dims: [2, 3, 4] };
  const before = await run(graph, { x });
  const upgraded = graph.clone();
  upgradeOpset(upgraded, 21);
  assert.equal(upgraded.opset, 21);
  assert.equal(graph.opset, 17, 'the source graph keeps its opset');
  assert.equal(upgraded.nodes[0].inputs.length, 2);
  assert.deepEqual([...(await run(upgraded, { x })).y.data], [...before.y.data]);

  const gn = new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: [1, 4, 2, 2] }],
      outputs: ['y'],
      opset: 18,
      inits: [
        { name: 'g', dims: [2], values: Float32Array.of(1, 1) },
        { name: 'b', dims: [2], values: Float32Array.of(0, 0) },
      ],
      nodes: [{ op: 'GroupNormalization', inputs: ['x', 'g', 'b'], outputs: ['y'], attrs: { num_groups: 2 } }],
    }),
  );
  assert.throws(() => upgradeOpset(gn, 21), /GroupNormalization 'GroupNormalization_0' changed meaning in opset 21/);
});

/** x → Conv (no bias) → MatMul → Add(bias) → MatMul (no bias): each way a bias correction can be folded. */
function threeLayers(rng: Rng): Graph {
  return new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: ['N', 2, 4, 4] }],
      outputs: ['z'],
      inits: [
        { name: 'Wc', dims: [3, 2, 1, 1], values: randomTensor(rng, 6, 0.8) },
        { name: 'Wm', dims: [4, 5], values: randomTensor(rng, 20, 0.8) },
        { name: 'Bm', dims: [5], values: randomTensor(rng, 5, 0.2) },
        { name: 'Wn', dims: [5, 2], values: randomTensor(rng, 10, 0.8) },
      ],
      nodes: [
        { op: 'Conv', inputs: ['x', 'Wc'], outputs: ['h'] },
        { op: 'MatMul', inputs: ['h', 'Wm'], outputs: ['m'] },
        { op: 'Add', inputs: ['m', 'Bm'], outputs: ['y'] },
        { op: 'MatMul', inputs: ['y', 'Wn'], outputs: ['z'] },
      ],
    }),
  );
}

test('the deployable graph stores integer weights and computes what the simulation does, bias correction folded', async () => {
  const rng = new Rng(5);
  const graph = threeLayers(rng);
  const n = 32;
  const images = {
    data: randomTensor(rng, n * 32, 1, 1.5),
    dims: [n, 2, 4, 4] as [number, number, number, number],
    labels: new Int32Array(n),
  };
  const points = findQuantPoints(graph);
  for (const wBits of [8, 4, 3]) {
    const table = await calibrate(defaultRunner, graph, 'x', points, images, {
      wBits: weightLevelBits(wBits, true),
      aBits: 8,
      observer: 'minmax',
      ptf: false,
      lis: false,
      biasCorrection: true,
      batchSize: 16,
    });
    const sim = materialize(graph, points, table.params, { bake: true, inputMeans: table.inputMeans }).graph;
    const deployed = deployableGraph(graph, points, table.params, table.inputMeans);
    const g = deployed.graph;
    for (const name of ['Wc', 'Wm', 'Wn'])
      assert.ok(!g.toModel().graph!.initializer!.some((t) => t.name === name), `${name} is no longer stored as float`);
    const storage = wBits === 8 ? DataType.INT8 : DataType.UINT4;
    assert.equal(
      g.toModel().graph!.initializer!.filter((t) => t.dataType === storage && t.dims!.length >= 2).length,
      3,
    );
    assert.equal(g.opset, wBits === 8 ? 17 : 21);
    assert.equal(deployed.weights[wBits === 8 ? 'int8' : 'uint4'].tensors, 3);
    // Conv got a bias input, the Add's bias was replaced, the last MatMul got a Sub after it.
    assert.equal(g.nodes.find((node) => node.opType === 'Conv')!.inputs.length, 3);
    assert.ok(g.nodes.some((node) => node.opType === 'Sub' && node.outputs[0] === 'z'));
    // Unoptimized, so both graphs compute exactly what they say (onnxruntime's optimizer quantizes a Conv bias to
    // int32 at scale s_x·s_w, which moves the folded correction by up to half a step and can flip a later rounding).
    const x = { data: images.data, dims: images.dims };
    const expected = (await run(sim, { x }, 'disabled')).z.data;
    const actual = (await run(g, { x }, 'disabled')).z.data;
    const range = Math.max(...expected.map(Math.abs));
    assert.ok(
      maxAbsDiff(actual, expected) <= 1e-5 * range,
      `W${wBits}: max diff ${maxAbsDiff(actual, expected)} of range ${range}`,
    );
  }
});

test('a per-tensor weight point keeps a scalar scale and zero point', () => {
  const graph = new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: [1, 4] }],
      outputs: ['y'],
      inits: [{ name: 'W', dims: [4, 3], values: randomTensor(new Rng(2), 12) }],
      nodes: [{ op: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] }],
    }),
  );
  const points = findQuantPoints(graph);
  const w = points.find((p) => p.kind === 'weight')!;
  const deployed = deployableGraph(graph, points, {
    [w.id]: { kind: 'uniform', bits: 8, axis: null, scale: Float32Array.of(0.01), zeroPoint: Float32Array.of(128) },
  });
  const dq = deployed.graph.nodes.find((n) => n.opType === 'DequantizeLinear')!;
  assert.equal(dq.attributes.length, 0);
  assert.deepEqual(deployed.graph.initializers.get(dq.inputs[1])!.dims, []);
});
