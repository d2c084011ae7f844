import { test } from 'node:test';
import { weightLevelBits } from '../../src/quant/scheme.js';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Graph } from '../../src/onnx/graph.js';
import { DataType } from '../../src/onnx/proto.js';
import { findQuantPoints, type QuantPoint } from '../../src/quant/points.js';
import { materialize } from '../../src/quant/materialize.js';
import { calibrate } from '../../src/calibrate/calibrate.js';
import type { CalibrationTable } from '../../src/calibrate/table.js';
import { deployableGraph } from '../../src/export/deployable.js';
import { chosenKernels } from '../../src/export/kernels.js';
import { defaultRunner } from '../../src/runtime/runner.js';
import { loadModel, type LoadedModel } from '../../src/model.js';
import { listImageFolder, limitPerClass, decodeImages, type ImageBatch } from '../../src/data/imagefolder.js';
import { DEFAULT_MODEL, ASSETS } from '../helpers.js';
import { runModel as run } from '../helpers.js';

const count = (g: Graph, op: string) => g.nodes.filter((n) => n.opType === op).length;

async function vit(): Promise<{ model: LoadedModel; images: ImageBatch }> {
  const model = loadModel(DEFAULT_MODEL);
  const images = await decodeImages(
    limitPerClass(listImageFolder(join(ASSETS, 'cifar10/calib'), model.labels), 10),
    model.preprocessing,
  );
  return { model, images };
}

async function calibrated(
  model: LoadedModel,
  images: ImageBatch,
  wBits: number,
  weightBlock = 0,
): Promise<CalibrationTable> {
  // 8-bit weights on 7-bit levels, as quantize stores them (--reduce-range): exact on every CPU.
  return calibrate(defaultRunner, model.graph, model.inputName, findQuantPoints(model.graph), images, {
    wBits: weightLevelBits(wBits, true),
    aBits: 8,
    observer: 'omse',
    ptf: true,
    lis: false,
    biasCorrection: false,
    batchSize: 50,
    weightBlock,
  });
}

/** The weights of MatMuls and Gemms (the classifier head, transB = 1): each becomes one integer kernel. */
const weightLayers = (model: LoadedModel, points: QuantPoint[]) =>
  points.filter(
    (p) =>
      p.kind === 'weight' &&
      ['MatMul', 'Gemm'].includes(model.graph.nodes.find((n) => n.name === p.node)?.opType ?? ''),
  ).length;

/** Agreement of the arg-max over rows of 10 logits, and the largest logit difference against the largest logit. */
function compare(actual: Float32Array, expected: Float32Array) {
  const rows = expected.length / 10;
  const argmax = (t: Float32Array, i: number) => {
    const row = t.subarray(i * 10, i * 10 + 10);
    return row.indexOf(Math.max(...row));
  };
  let agree = 0;
  let diff = 0;
  for (let i = 0; i < rows; i++) if (argmax(actual, i) === argmax(expected, i)) agree++;
  for (let i = 0; i < expected.length; i++) diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
  return { agree, rows, relative: diff / Math.max(...expected.map(Math.abs)) };
}

test('W8A8 ViT: every weight MatMul is one uint8 × int8 MatMulIntegerToFloat with its bias inside, K and V are int8, and it matches the simulation', async () => {
  const { model, images } = await vit();
  const points = findQuantPoints(model.graph);
  const table = await calibrated(model, images, 8);
  const integerLayers = weightLayers(model, points);
  const g = deployableGraph(model.graph, points, table.params).graph;
  assert.equal(count(g, 'MatMulIntegerToFloat'), integerLayers);
  assert.equal(count(g, 'MatMul'), 12, 'the two activation × activation MatMuls of each of the 6 attentions stay QDQ');
  assert.equal(count(g, 'Gemm'), 0, 'the Gemm head (transB = 1) runs as MatMulIntegerToFloat on its transposed weight');
  for (const node of g.nodes.filter((n) => n.opType === 'MatMulIntegerToFloat')) {
    assert.equal(node.domain, 'com.microsoft');
    assert.equal(g.initializers.get(node.inputs[1])?.dataType, DataType.INT8, `${node.name}: int8 weight`);
    assert.equal(node.inputs.length, 7, `${node.name}: the bias Add is inside the kernel`);
    assert.ok(
      !g.consumers(node.outputs[0]).some((n) => n.opType === 'Add' && n.inputs.some((t) => g.isConstant(t))),
      `${node.name}: no float bias Add after it`,
    );
  }
  // Every activation stays uint8: attention's activation × activation MatMuls run uint8 × uint8, which AVX2
  // kernels add without saturating (docs/notes/exactness.md).
  const signed = g.nodes.filter(
    (n) => n.opType === 'QuantizeLinear' && g.initializers.get(n.inputs[2])?.dataType !== DataType.UINT8,
  );
  assert.equal(signed.length, 0);
  assert.ok(g.opsetImport.some((o) => o.domain === 'com.microsoft'));

  const qdq = deployableGraph(model.graph, points, table.params, {}, { integerKernels: false }).graph;
  assert.equal(count(qdq, 'MatMulIntegerToFloat'), 0, 'the qdq format keeps standard operators');
  assert.ok(!qdq.opsetImport.some((o) => o.domain === 'com.microsoft'));

  const sim = materialize(model.graph, points, table.params, { bake: true }).graph.toBytes();
  const x = { [model.inputName]: { data: images.data, dims: images.dims } };
  const expected = (await run(sim, x))[model.outputName].data;
  for (const [name, graph] of [
    ['integer kernels', g],
    ['qdq', qdq],
  ] as const) {
    const { agree, rows, relative } = compare((await run(graph.toBytes(), x))[model.outputName].data, expected);
    assert.ok(agree >= rows - 1, `${name}: ${agree}/${rows} predictions agree with the simulation`);
    assert.ok(relative < 0.02, `${name}: logits differ by ${relative} of the largest`);
  }
  const kernels = await chosenKernels(defaultRunner, g.toBytes());
  assert.equal(
    kernels['com.microsoft:MatMulIntegerToFloat'],
    integerLayers + 6,
    `onnxruntime keeps them, and fuses Q·Kᵀ: ${JSON.stringify(kernels)}`,
  );
  assert.equal(kernels.MatMul, undefined, 'no float MatMul is left');
});

test('W4A8 widened: uint4 weights in the file, widened to int8 once at load, so onnxruntime runs integer MatMuls instead of dequantizing at every run', async () => {
  const { model, images } = await vit();
  const points = findQuantPoints(model.graph);
  const table = await calibrated(model, images, 4);
  assert.equal(
    count(deployableGraph(model.graph, points, table.params).graph, 'Cast'),
    count(model.graph, 'Cast'),
    'per-channel W4 leaves uint4 weights to DequantizeLinear (no Cast-21 in every onnxruntime-web build)',
  );
  const g = deployableGraph(model.graph, points, table.params, {}, { widenUint4: 'cast' }).graph;
  const integerLayers = weightLayers(model, points);
  const widened = g.nodes.filter(
    (n) => n.opType === 'Cast' && g.initializers.get(n.inputs[0])?.dataType === DataType.UINT4,
  );
  assert.equal(widened.length, integerLayers);
  const kernels = await chosenKernels(defaultRunner, g.toBytes());
  assert.equal(kernels.Cast, undefined, `the casts of constants are folded at load: ${JSON.stringify(kernels)}`);
  assert.equal(kernels['com.microsoft:MatMulIntegerToFloat'], integerLayers + 6, JSON.stringify(kernels));
  assert.equal(kernels.MatMul, undefined, `no weight is dequantized to a float MatMul: ${JSON.stringify(kernels)}`);
  const sim = materialize(model.graph, points, table.params, { bake: true }).graph.toBytes();
  const x = { [model.inputName]: { data: images.data, dims: images.dims } };
  const { agree, rows } = compare(
    (await run(g.toBytes(), x))[model.outputName].data,
    (await run(sim, x))[model.outputName].data,
  );
  assert.ok(agree >= rows - 1, `${agree}/${rows} predictions agree with the simulation`);
});

test('W4A8 nibbles: 4-bit weights stored two to a uint8 byte, split into int8 at load by standard operators, run as the integer MatMuls widened runs', async () => {
  const { model, images } = await vit();
  const points = findQuantPoints(model.graph);
  const table = await calibrated(model, images, 4);
  const integerLayers = weightLayers(model, points);
  const deployed = deployableGraph(model.graph, points, table.params, {}, { widenUint4: 'nibbles' });
  const g = deployed.graph;
  assert.equal(
    deployed.weights['uint4-nibbles'].tensors,
    integerLayers + 1,
    'and the patch Conv (QLinearConv reads int8)',
  );
  assert.equal(deployed.weights.uint4.tensors, 0);
  assert.ok(
    !g.nodes.some((n) => n.opType === 'Cast' && g.initializers.get(n.inputs[0])?.dataType === DataType.UINT4),
    'no Cast of uint4 (the onnxruntime-web build transformers.js bundles has none)',
  );
  for (const node of g.nodes.filter((n) => n.opType === 'MatMulIntegerToFloat'))
    assert.equal(node.inputs.length, 7, `${node.name}: the bias Add is inside the kernel`);
  const widened = deployableGraph(model.graph, points, table.params, {}, { widenUint4: 'cast' });
  const bytes = g.toBytes();
  assert.ok(
    bytes.length <= widened.graph.toBytes().length * 1.02,
    `${bytes.length} bytes against widened's ${widened.graph.toBytes().length}: still 4 bits a weight`,
  );
  const kernels = await chosenKernels(defaultRunner, bytes);
  assert.deepEqual(
    kernels,
    await chosenKernels(defaultRunner, widened.graph.toBytes()),
    'onnxruntime runs the same kernels as for widened: the split is folded at load',
  );
  for (const op of ['BitwiseAnd', 'BitShift', 'Cast', 'MatMul'])
    assert.equal(kernels[op], undefined, `${op}: ${JSON.stringify(kernels)}`);
  const x = { [model.inputName]: { data: images.data, dims: images.dims } };
  const actual = (await run(bytes, x))[model.outputName].data;
  assert.deepEqual(
    [...actual],
    [...(await run(widened.graph.toBytes(), x))[model.outputName].data],
    'the same int8 levels as widened',
  );
  const sim = materialize(model.graph, points, table.params, { bake: true }).graph.toBytes();
  const { agree, rows } = compare(actual, (await run(sim, x))[model.outputName].data);
  assert.ok(agree >= rows - 1, `${agree}/${rows} predictions agree with the simulation`);
});

test('blocked weights: calibrated per block of 32 rows, simulated so, exported as MatMulNBits that onnxruntime keeps, matching the simulation', async () => {
  const { model, images } = await vit();
  const points = findQuantPoints(model.graph);
  const table = await calibrated(model, images, 4, 32);
  const blocked = points.filter((p) => (table.params[p.id] as { block?: unknown }).block);
  const weightMatMuls = points.filter(
    (p) => p.kind === 'weight' && model.graph.nodes.find((n) => n.name === p.node)?.opType === 'MatMul',
  );
  assert.deepEqual(
    blocked.map((p) => p.id),
    weightMatMuls.map((p) => p.id),
    'every MatMul weight (K a multiple of 32) is blocked; the Conv and the Gemm head stay per channel',
  );
  const first = table.params[blocked[0].id] as { scale: Float32Array; block: { size: number; blocks: number } };
  assert.equal(first.block.size, 32);
  assert.equal(first.scale.length, first.block.blocks * blocked[0].dims![1]);

  const deployed = deployableGraph(model.graph, points, table.params);
  const g = deployed.graph;
  assert.equal(count(g, 'MatMulNBits'), blocked.length);
  assert.equal(deployed.weights['uint4-blocked'].tensors, blocked.length);
  for (const node of g.nodes.filter((n) => n.opType === 'MatMulNBits'))
    assert.equal(node.inputs.length, 6, `${node.name}: bias fused`);
  const sim = materialize(model.graph, points, table.params, { bake: true }).graph.toBytes();
  const x = { [model.inputName]: { data: images.data, dims: images.dims } };
  const expected = (await run(sim, x))[model.outputName].data;
  const { agree, rows, relative } = compare((await run(g.toBytes(), x))[model.outputName].data, expected);
  assert.ok(agree >= rows - 1, `${agree}/${rows} predictions agree with the simulation`);
  assert.ok(relative < 0.02, `logits differ by ${relative} of the largest`);
  const kernels = await chosenKernels(defaultRunner, g.toBytes());
  assert.equal(kernels['com.microsoft:MatMulNBits'], blocked.length, JSON.stringify(kernels));
  // Blocks fit the weights better than one range per channel: the blocked simulation is closer to float.
  const perChannel = materialize(model.graph, points, (await calibrated(model, images, 4)).params, {
    bake: true,
  }).graph.toBytes();
  const float = (await run(model.graph.toBytes(), x))[model.outputName].data;
  const error = (t: Float32Array) => t.reduce((sum, v, i) => sum + (v - float[i]) ** 2, 0);
  assert.ok(
    error(expected) < error((await run(perChannel, x))[model.outputName].data),
    'blocked W4 is closer to float than per-channel W4',
  );
});
