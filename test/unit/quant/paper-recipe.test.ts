// --preset paper, option by option: the Evol-Q code's extra quantizers, one Q/K/V scale, FQ-ViT's integer
// LayerNorm and the data-free weight correction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Graph } from '../../../src/onnx/graph.js';
import { floatValueInfo } from '../../../src/onnx/proto.js';
import { findQuantPoints, type QuantPoint } from '../../../src/quant/points.js';
import { materialize, simulationFeeds } from '../../../src/quant/materialize.js';
import {
  channelStats,
  correctWeight,
  effectiveScales,
  fakeQuantUniform,
  channelIndexer,
  integerLayerNorm,
  uintRange,
  type QuantParams,
  type UniformParams,
} from '../../../src/quant/scheme.js';
import { weightParams } from '../../../src/calibrate/observers/weights.js';
import { loadModel } from '../../../src/model.js';
import { defaultRunner } from '../../../src/runtime/runner.js';
import { resolveOptions } from '../../../src/options/resolve.js';
import { Rng } from '../../../src/rng.js';
import { buildModel, randomTensor, DEFAULT_MODEL, FIXTURES } from '../../helpers.js';

const PAPER_POINTS = { extraPoints: true, sharedQkv: true, integerLayerNorm: true };
const roles = (points: readonly QuantPoint[]) => {
  const count: Record<string, number> = {};
  for (const p of points) if (p.role) count[p.role] = (count[p.role] ?? 0) + 1;
  return count;
};

test('--extra-points: attention logits, residual branches, patch embedding, class-token concat, position embedding and logits of the ViT', () => {
  const { graph } = loadModel(DEFAULT_MODEL);
  assert.deepEqual(roles(findQuantPoints(graph)), {}, 'the default set has none of them');
  const points = findQuantPoints(graph, { extraPoints: true });
  assert.deepEqual(roles(points), {
    'attention-logits': 6,
    'residual-branch': 12,
    'patch-embedding': 1,
    'token-concat': 1,
    'position-embedding': 1,
    logits: 1,
  });
  const byRole = (role: string) => points.filter((p) => p.role === role);
  assert.ok(
    byRole('attention-logits').every(
      (p) => p.node.endsWith('/attn/Softmax') && p.tensor.endsWith('/attn/Mul_output_0'),
    ),
    'the scaled Q·Kᵀ before each Softmax',
  );
  assert.deepEqual(
    byRole('residual-branch')
      .map((p) => p.tensor.split('/').slice(-2).join('/'))
      .slice(0, 2),
    ['proj/Add_output_0', 'fc2/Add_output_0'],
  );
  assert.equal(byRole('patch-embedding')[0].tensor, '/patch_embed/Conv_output_0');
  assert.equal(byRole('token-concat')[0].tensor, '/Concat_2_output_0');
  assert.equal(byRole('position-embedding')[0].tensor, 'pos_embed');
  assert.equal(byRole('logits')[0].tensor, 'logits');
});

test('--extra-points on the other families: what each has, and none fails', () => {
  const expected: Record<string, Record<string, number>> = {
    'deit-cifar10-tiny': {
      'attention-logits': 2,
      'residual-branch': 4,
      'patch-embedding': 1,
      'token-concat': 1,
      'position-embedding': 1,
      logits: 1,
    },
    'tvvit-cifar10-tiny': {
      'attention-logits': 2,
      'residual-branch': 4,
      'patch-embedding': 1,
      'token-concat': 1,
      'position-embedding': 1,
      logits: 1,
    },
    // No class token and no absolute position embedding.
    'swin-cifar10-tiny': { 'attention-logits': 6, 'residual-branch': 12, 'patch-embedding': 1, logits: 1 },
    // Its patch embedding is a stack of convolutions with activations between them.
    levit: { 'attention-logits': 8, 'residual-branch': 14, logits: 1 },
  };
  for (const [name, counts] of Object.entries(expected)) {
    assert.deepEqual(
      roles(findQuantPoints(loadModel(join(FIXTURES, name)).graph, { extraPoints: true })),
      counts,
      name,
    );
  }
});

test('--shared-qkv: one quantizer on the tensor Q, K and V are split from instead of one on each', () => {
  const { graph } = loadModel(DEFAULT_MODEL);
  const matmulInputs = (points: readonly QuantPoint[]) =>
    points.filter((p) => p.kind === 'activation' && /attn\/MatMul(_1)?$/.test(p.node));
  assert.equal(matmulInputs(findQuantPoints(graph)).length, 18, 'by default q, kᵀ and v each have a point');
  const shared = findQuantPoints(graph, { sharedQkv: true });
  assert.equal(matmulInputs(shared).length, 0);
  const qkv = shared.filter((p) => p.role === 'qkv');
  assert.equal(qkv.length, 6);
  assert.ok(qkv.every((p) => p.tensor.endsWith('/attn/qkv/Add_output_0')));
  for (const name of ['tvvit-cifar10-tiny', 'swin-cifar10-tiny', 'levit']) {
    const points = findQuantPoints(loadModel(join(FIXTURES, name)).graph, { sharedQkv: true });
    const softmaxes = points.filter((p) => p.kind === 'softmax').length;
    assert.equal(points.filter((p) => p.role === 'qkv').length, softmaxes, `${name}: one per attention`);
  }
});

test('the extra points are quantized in the simulation graph, the logits under their own name', async () => {
  const { graph, inputName, outputName } = loadModel(DEFAULT_MODEL);
  const points = findQuantPoints(graph, PAPER_POINTS);
  const params: Record<string, QuantParams> = {};
  for (const p of points) {
    params[p.id] =
      p.kind === 'weight'
        ? weightParams(graph.constantValue(p.tensor)!.values, p.dims!, p.channelAxis!, 8)
        : { kind: 'uniform', bits: 8, scale: Float32Array.of(0.05), zeroPoint: Float32Array.of(128), axis: null };
  }
  const sim = materialize(graph, points, params, { bake: true }).graph;
  const quantizedInputs = new Set(sim.nodes.filter((n) => n.opType === 'QuantizeLinear').map((n) => n.inputs[0]));
  for (const p of points.filter((q) => q.role && q.role !== 'logits'))
    assert.ok(quantizedInputs.has(p.tensor), `${p.id} (${p.role}) is quantized`);
  const identity = sim.producer(outputName)!;
  assert.equal(identity.opType, 'Identity');
  assert.equal(sim.producer(identity.inputs[0])!.opType, 'DequantizeLinear');
  const session = await defaultRunner.createSession(sim.toBytes());
  const out = await session.run(
    { [inputName]: { data: randomTensor(new Rng(3), 2 * 3 * 32 * 32), dims: [2, 3, 32, 32] } },
    [outputName],
  );
  await session.release();
  const levels = Array.from(out[outputName].data, (v) => v / 0.05);
  assert.ok(
    levels.every((l) => Math.abs(l - Math.round(l)) < 1e-3),
    'the logits lie on the 8-bit grid',
  );
});

/** x [2,3,8] → LayerNormalization(γ, β) → MatMul(W [8,6]): the LayerNorm's output is the MatMul's input point. */
function layerNormModel(gamma: Float32Array, beta: Float32Array, w: Float32Array) {
  return new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: [2, 3, 8] }],
      outputs: ['y'],
      inits: [
        { name: 'W', dims: [8, 6], values: w },
        { name: 'gamma', dims: [8], values: gamma },
        { name: 'beta', dims: [8], values: beta },
      ],
      nodes: [
        { op: 'LayerNormalization', inputs: ['x', 'gamma', 'beta'], outputs: ['h'], attrs: { axis: -1 } },
        { op: 'MatMul', inputs: ['h', 'W'], outputs: ['y'] },
      ],
    }),
  );
}

test("--integer-layer-norm: the graph computes FQ-ViT's integer LayerNorm as the TypeScript reference does, on the next quantizer's grid", async () => {
  const rng = new Rng(5);
  const gamma = randomTensor(rng, 8, 0.5, 1);
  const beta = randomTensor(rng, 8, 0.3);
  const graph = layerNormModel(gamma, beta, randomTensor(rng, 48, 0.5));
  const points = findQuantPoints(graph, { integerLayerNorm: true });
  const ln = points.find((p) => p.kind === 'layernorm')!;
  const next = points.find((p) => p.kind === 'activation')!;
  assert.equal(ln.output, next.id, 'the LayerNorm knows the quantizer of its output');
  const inParams: UniformParams = {
    kind: 'uniform',
    bits: 8,
    scale: Float32Array.of(0.004),
    zeroPoint: Float32Array.of(120),
    axis: -1,
    channelFactor: Float32Array.from({ length: 8 }, (_, c) => 2 ** (c % 4)),
    integerLayerNorm: true,
  };
  const outParams: UniformParams = {
    kind: 'uniform',
    bits: 8,
    scale: Float32Array.of(0.021),
    zeroPoint: Float32Array.of(118),
    axis: null,
  };
  const x = randomTensor(rng, 48, 2.5, 0.3);
  const run = async (params: Record<string, QuantParams>) => {
    const sim = materialize(graph, points, params);
    sim.graph.outputs.push(floatValueInfo('h'));
    const session = await defaultRunner.createSession(sim.graph.toBytes());
    const out = await session.run({ x: { data: x, dims: [2, 3, 8] }, ...simulationFeeds(sim, points, params) }, ['h']);
    await session.release();
    return out.h.data;
  };
  const h = await run({ [ln.id]: inParams, [next.id]: outParams });
  const quantizedInput = fakeQuantUniform(
    x,
    effectiveScales(inParams),
    inParams.zeroPoint,
    uintRange(8),
    channelIndexer([2, 3, 8], -1),
  );
  const expected = integerLayerNorm(quantizedInput, 8, effectiveScales(inParams), 0.021, gamma, beta);
  let exact = 0;
  for (let i = 0; i < h.length; i++) {
    assert.ok(Math.abs(h[i] - expected[i]) <= 0.021 * 1.001, `element ${i}: ${h[i]} vs ${expected[i]}`);
    if (Math.abs(h[i] - expected[i]) < 1e-6) exact++;
    assert.ok(Math.abs(h[i] / 0.021 - Math.round(h[i] / 0.021)) < 1e-3, "on the output quantizer's grid");
  }
  assert.ok(exact >= h.length - 1, `${exact} of ${h.length} equal`);
  const float = await run({ [ln.id]: { ...inParams, integerLayerNorm: false }, [next.id]: outParams });
  assert.ok(
    float.some((v, i) => Math.abs(v - h[i]) > 1e-3),
    'the float LayerNorm differs',
  );
});

test("--weight-correction: each output channel of the dequantized weight gets the float weight's mean and std, also for fed scales", async () => {
  const rng = new Rng(11);
  const w = randomTensor(rng, 48, 0.7, 0.05);
  const graph = layerNormModel(new Float32Array(8).fill(1), new Float32Array(8), w);
  const points = findQuantPoints(graph);
  const weight = points.find((p) => p.kind === 'weight')!;
  const target = channelStats(w, [8, 6], 1);
  const base = { ...weightParams(w, [8, 6], 1, 3), correction: target };
  for (const scale of [base.scale, base.scale.map((s) => s * 1.07)]) {
    const params = { [weight.id]: { ...base, scale } };
    const sim = materialize(graph, points, params, { feed: new Set([weight.id]) });
    sim.graph.outputs.push(floatValueInfo(sim.quantized[weight.id]));
    const session = await defaultRunner.createSession(sim.graph.toBytes());
    const out = await session.run(
      { x: { data: new Float32Array(48), dims: [2, 3, 8] }, ...simulationFeeds(sim, points, params) },
      [sim.quantized[weight.id]],
    );
    await session.release();
    const corrected = out[sim.quantized[weight.id]].data;
    const stats = channelStats(corrected, [8, 6], 1);
    for (let c = 0; c < 6; c++) {
      assert.ok(
        Math.abs(stats.mean[c] - target.mean[c]) < 1e-5,
        `channel ${c} mean ${stats.mean[c]} vs ${target.mean[c]}`,
      );
      assert.ok(Math.abs(stats.std[c] - target.std[c]) < 1e-5, `channel ${c} std ${stats.std[c]} vs ${target.std[c]}`);
    }
    const dequantized = fakeQuantUniform(w, scale, base.zeroPoint, uintRange(3), channelIndexer([8, 6], 1));
    const reference = correctWeight(dequantized, [8, 6], 1, target);
    assert.ok(
      corrected.every((v, i) => Math.abs(v - reference[i]) < 1e-6),
      'equals the TypeScript reference',
    );
    const uncorrected = channelStats(dequantized, [8, 6], 1);
    assert.ok(
      Array.from(uncorrected.std).some((s, c) => Math.abs(s - target.std[c]) > 1e-4),
      "without it the 3-bit weight's std differs",
    );
  }
});

test("--preset paper sets the four recipe options and the authors' search over the defaults; explicit options override it", () => {
  const defaults = resolveOptions({});
  assert.deepEqual(
    [defaults.preset, defaults.extraPoints, defaults.sharedQkv, defaults.integerLayerNorm, defaults.weightCorrection],
    ['default', false, false, false, false],
  );
  const paper = resolveOptions({ preset: 'paper' });
  assert.deepEqual(
    [
      paper.extraPoints,
      paper.sharedQkv,
      paper.integerLayerNorm,
      paper.weightCorrection,
      paper.ptf,
      paper.observer,
      paper.biasCorrection,
    ],
    [true, true, true, true, true, 'omse', false],
  );
  assert.deepEqual(
    [paper.loss, paper.mutation, paper.select, paper.searchSpace, paper.start],
    ['infonce', 'absolute', 'loss', 'attention', 'baseline'],
  );
  assert.deepEqual(
    [defaults.loss, defaults.mutation, defaults.select, defaults.start],
    ['auto', 'joint', 'auto', 'auto'],
  );
  assert.equal(resolveOptions({ preset: 'paper', weightCorrection: false }).weightCorrection, false);
  assert.equal(resolveOptions({ preset: 'paper', select: 'kl' }).select, 'kl');
  assert.throws(
    () => resolveOptions({ preset: 'paper', wBits: 4, exportFormat: 'blocked' }),
    /options\.weightCorrection \(part of options\.preset: 'paper'\) .* not written for options\.exportFormat: 'blocked'/,
  );
  assert.equal(resolveOptions({ integerLayerNorm: true }).extraPoints, false, 'each option stands alone');
  assert.throws(
    () => resolveOptions({ preset: 'fq-vit' }),
    /Unsupported options\.preset: "fq-vit". Should be one of: default, paper\./,
  );
});

test("the default search space is attention at 8-bit activations and block+activations at 4; a given one or the paper preset's stays", () => {
  assert.equal(resolveOptions({}).searchSpace, 'attention');
  assert.equal(resolveOptions({ aBits: 4 }).searchSpace, 'block+activations');
  assert.equal(resolveOptions({ aBits: '4' }).searchSpace, 'block+activations', 'as the CLI gives it');
  assert.equal(resolveOptions({ aBits: 4, searchSpace: 'attention' }).searchSpace, 'attention');
  assert.equal(resolveOptions({ aBits: 4, preset: 'paper' }).searchSpace, 'attention');
});

test("the default mutation is joint at 8-bit activations and point at 4; a given one or the paper preset's stays", () => {
  assert.equal(resolveOptions({}).mutation, 'joint');
  assert.equal(resolveOptions({ aBits: '4' }).mutation, 'point');
  assert.equal(resolveOptions({ aBits: 4, mutation: 'joint' }).mutation, 'joint');
  assert.equal(resolveOptions({ aBits: 4, preset: 'paper' }).mutation, 'absolute');
});
