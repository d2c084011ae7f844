import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel } from '../../../src/model.js';
import { Graph } from '../../../src/onnx/graph.js';
import { findQuantPoints, type QuantPoint } from '../../../src/quant/points.js';
import { findUnits } from '../../../src/quant/units.js';
import { DEFAULT_MODEL, FIXTURES, buildModel } from '../../helpers.js';
import { materialize, simulationFeeds } from '../../../src/quant/materialize.js';
import { minmaxParams } from '../../../src/calibrate/observers/minmax.js';
import { weightParams } from '../../../src/calibrate/observers/weights.js';
import { defaultRunner } from '../../../src/runtime/runner.js';
import type { QuantParams } from '../../../src/quant/scheme.js';

/** A fixture model by folder name (test/fixtures/models), or the bundled ViT as 'vit-cifar10'. */
function marked(name: string) {
  const model = loadModel(name === 'vit-cifar10' ? DEFAULT_MODEL : join(FIXTURES, name));
  const points = findQuantPoints(model.graph);
  const count = (kind: QuantPoint['kind']) => points.filter((p) => p.kind === kind).length;
  const byId = new Map(points.map((p) => [p.id, p]));
  return { model, points, count, byId };
}

const nodeTail = (p: QuantPoint) => p.node.split('/').slice(-2).join('/');

test('vit-cifar10: every linear weight, every matmul input, 13 LayerNorm inputs, 6 softmaxes, 6 attention units', () => {
  const { model, points, count, byId } = marked('vit-cifar10');
  // patch embedding + 6 × (qkv, proj, fc1, fc2) + head
  assert.equal(count('weight'), 26);
  assert.equal(count('softmax'), 6);
  assert.equal(count('layernorm'), 13);
  // patch input + 6 × (qkv in, q, kᵀ, v, proj in, fc1 in, fc2 in) + head input; attn·V's left operand is the softmax point
  assert.equal(count('activation'), 44);
  const units = findUnits(model.graph, points);
  assert.equal(units.length, 6);
  for (const [i, unit] of units.entries()) {
    assert.equal(unit.kind, 'attention');
    assert.equal(unit.name, `blocks/blocks.${i}`);
    assert.deepEqual(
      unit.points.map((id) => nodeTail(byId.get(id)!)),
      ['qkv/MatMul', 'proj/MatMul'],
    );
  }
  const head = points.find((p) => p.node === '/head/Gemm' && p.kind === 'weight')!;
  assert.equal(head.channelAxis, 0, 'Gemm with transB=1 has output channels on axis 0');
  const qkv = points.find((p) => p.node === '/blocks/blocks.0/attn/qkv/MatMul' && p.kind === 'weight')!;
  assert.deepEqual([qkv.channelAxis, qkv.dims], [1, [128, 384]]);
  const softmax = points.find((p) => p.kind === 'softmax')!;
  assert.deepEqual(softmax.consumers, ['/blocks/blocks.0/attn/MatMul_1']);
});

test('block search space adds each MLP to its attention unit', () => {
  const { model, points, byId } = marked('vit-cifar10');
  const units = findUnits(model.graph, points, 'block');
  assert.equal(units.length, 6);
  assert.deepEqual(
    units[3].points.map((id) => nodeTail(byId.get(id)!)),
    ['qkv/MatMul', 'proj/MatMul', 'fc1/MatMul', 'fc2/MatMul'],
  );
  const withActivations = findUnits(model.graph, points, 'block+activations');
  assert.ok(withActivations[3].points.some((id) => byId.get(id)!.kind === 'softmax'));
  assert.ok(withActivations[3].points.some((id) => byId.get(id)!.kind === 'activation'));
});

test('resnet: one unit per residual block, projection shortcuts included', () => {
  const { model, points, count, byId } = marked('resnet-cifar10-small');
  assert.equal(count('weight'), 10); // ResNet-8: stem, 3 × 2 convs, 2 shortcut convs, fc
  assert.equal(count('softmax') + count('layernorm'), 0);
  const units = findUnits(model.graph, points);
  assert.equal(units.length, 3);
  assert.ok(units.every((u) => u.kind === 'block'));
  // layers.1 opens the second stage (stride 2, 16 → 32 channels), so it has the first projection shortcut.
  assert.deepEqual(
    units[1].points.map((id) => nodeTail(byId.get(id)!)),
    ['layers.1/conv1/Conv', 'layers.1/conv2/Conv', 'short/short.0/Conv'].map((s) => s.split('/').slice(-2).join('/')),
  );
  assert.ok(points.filter((p) => p.kind === 'weight' && p.node.includes('Conv')).every((p) => p.channelAxis === 0));
});

test('deit: the distillation head is quantized but the two averaged heads are no residual unit', () => {
  const { model, points, count } = marked('deit-cifar10-tiny');
  assert.equal(count('weight'), 11); // patch embedding + 2 × (qkv, proj, fc1, fc2) + head + head_dist
  assert.ok(points.some((p) => p.kind === 'weight' && p.node === '/head_dist/Gemm'));
  const units = findUnits(model.graph, points);
  assert.equal(units.length, 2); // one per block: the averaged heads add none
  assert.ok(units.every((u) => u.kind === 'attention' && u.points.length === 2));
});

test('swin: windowed and shifted attention are units; patch merging is quantized outside them', () => {
  const { model, points, count, byId } = marked('swin-cifar10-tiny');
  // Depths 2-2-2 as in the zoo's Swin: 6 blocks, each one softmax and one unit.
  assert.equal(count('softmax'), 6);
  const units = findUnits(model.graph, points);
  assert.equal(units.length, 6);
  assert.deepEqual(
    units.map((u) => u.name),
    [
      'features/features.1/features.1.0',
      'features/features.1/features.1.1',
      'features/features.3/features.3.0',
      'features/features.3/features.3.1',
      'features/features.5/features.5.0',
      'features/features.5/features.5.1',
    ],
  );
  for (const u of units)
    assert.deepEqual(
      u.points.map((id) => nodeTail(byId.get(id)!)),
      ['attn/MatMul', 'attn/MatMul_3'],
    );
  const merging = points.filter((p) => p.kind === 'weight' && p.node.includes('reduction'));
  assert.equal(merging.length, 2);
  assert.ok(merging.every((p) => !units.some((u) => u.points.includes(p.id))));
  // The shifted-window mask is built from shapes: never a quant point, never a residual.
  assert.ok(!points.some((p) => p.tensor.includes('attn/Add_2')));
  // Softmax feeds attn·V through Dropout: quantized once, at the softmax.
  const softmax = points.find((p) => p.kind === 'softmax')!;
  assert.ok(!points.some((p) => p.kind === 'activation' && p.tensor.endsWith('attn/Dropout_output_0')));
  assert.ok(softmax.consumers.length >= 1);
});

test('torchvision ViT: nn.MultiheadAttention in_proj and out_proj (Gemm) form the unit', () => {
  const { model, points, byId } = marked('tvvit-cifar10-tiny');
  const units = findUnits(model.graph, points);
  assert.equal(units.length, 2); // one per encoder layer
  assert.equal(units[0].name, 'encoder/layers/encoder_layer_0');
  assert.deepEqual(
    units[0].points.map((id) => nodeTail(byId.get(id)!)),
    ['self_attention/MatMul', 'self_attention/Gemm'],
  );
  assert.equal(byId.get(units[0].points[1])!.channelAxis, 0);
});

function decomposedLayerNormModel(opset: number) {
  const dim = 8;
  const ones = new Float32Array(dim).fill(1);
  return buildModel({
    opset,
    inputs: [{ name: 'x', shape: ['batch', 4, dim] }],
    outputs: ['y'],
    inits: [
      { name: 'two', dims: [], values: Float32Array.of(2) },
      { name: 'eps', dims: [], values: Float32Array.of(1e-5) },
      { name: 'gamma', dims: [dim], values: ones },
      { name: 'beta', dims: [dim], values: new Float32Array(dim) },
      { name: 'W', dims: [dim, dim], values: new Float32Array(dim * dim).fill(0.1) },
    ],
    nodes: [
      { op: 'ReduceMean', inputs: ['x'], outputs: ['mean'], attrs: { axes: [-1] } },
      { op: 'Sub', inputs: ['x', 'mean'], outputs: ['d'] },
      { op: 'Pow', inputs: ['d', 'two'], outputs: ['d2'] },
      { op: 'ReduceMean', inputs: ['d2'], outputs: ['var'], attrs: { axes: [-1] } },
      { op: 'Add', inputs: ['var', 'eps'], outputs: ['ve'] },
      { op: 'Sqrt', inputs: ['ve'], outputs: ['sd'] },
      { op: 'Div', inputs: ['d', 'sd'], outputs: ['n'] },
      { op: 'Mul', inputs: ['n', 'gamma'], outputs: ['g'] },
      { op: 'Add', inputs: ['g', 'beta'], outputs: ['h'] },
      { op: 'MatMul', inputs: ['h', 'W'], outputs: ['y'] },
    ],
  });
}

test('the decomposed LayerNorm (ReduceMean/Sub/Pow/Sqrt/Div) marks its input like LayerNormalization', () => {
  const graph = new Graph(decomposedLayerNormModel(13));
  const points = findQuantPoints(graph);
  assert.deepEqual(
    points.map((p) => [p.kind, p.tensor]),
    [
      ['layernorm', 'x'],
      ['activation', 'h'],
      ['weight', 'W'],
    ],
  );
  const ln = points[0];
  assert.deepEqual(ln.consumers.sort(), ['ReduceMean_0', 'Sub_1']);
});

test('weights shared through Identity get one point per use', () => {
  const w = new Float32Array(16).fill(0.5);
  const graph = new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: [2, 4] }],
      outputs: ['z'],
      inits: [{ name: 'W', dims: [4, 4], values: w }],
      nodes: [
        { op: 'Identity', inputs: ['W'], outputs: ['W2'] },
        { op: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] },
        { op: 'MatMul', inputs: ['y', 'W2'], outputs: ['z'] },
      ],
    }),
  );
  const weights = findQuantPoints(graph).filter((p) => p.kind === 'weight');
  assert.deepEqual(
    weights.map((p) => [p.tensor, p.consumers]),
    [
      ['W', ['MatMul_1']],
      ['W2', ['MatMul_2']],
    ],
  );
});

test('an opset-13 model with the decomposed LayerNorm simulates in onnxruntime; opset 12 is refused by name', async () => {
  const graph = new Graph(decomposedLayerNormModel(13));
  const points = findQuantPoints(graph);
  const w = graph.constantValue('W')!;
  const params: Record<string, QuantParams> = {
    n0: minmaxParams(-3, 3, 8),
    a0: minmaxParams(-3, 3, 8),
    w0: weightParams(w.values, w.dims, 1, 4),
  };
  const sim = materialize(graph, points, params);
  const session = await defaultRunner.createSession(sim.graph.toBytes());
  const x = { data: Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)), dims: [2, 4, 8] };
  const out = await session.run({ x, ...simulationFeeds(sim, points, params) });
  assert.equal(out.y.data.length, 64);
  assert.ok(out.y.data.every(Number.isFinite));
  await session.release();
  assert.throws(
    () => materialize(new Graph(decomposedLayerNormModel(12)), points, params),
    /opset 12; evolq needs opset 13/,
  );
});

test('nodes without names or with repeated names get unique names', () => {
  const model = buildModel({
    inputs: [{ name: 'x', shape: [2, 4] }],
    outputs: ['z'],
    inits: [{ name: 'W', dims: [4, 4], values: new Float32Array(16).fill(0.5) }],
    nodes: [
      { op: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] },
      { op: 'MatMul', inputs: ['y', 'W'], outputs: ['z'] },
    ],
  });
  model.graph!.node!.forEach((n) => (n.name = 'same'));
  const graph = new Graph(model);
  assert.deepEqual(
    graph.nodes.map((n) => n.name),
    ['same', 'same#1'],
  );
  assert.deepEqual(
    findQuantPoints(graph)
      .filter((p) => p.kind === 'weight')
      .map((p) => p.node),
    ['same', 'same#1'],
  );
});
