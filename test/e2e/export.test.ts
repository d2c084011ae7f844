import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { quantize } from '../../src/pipeline/quantize.js';
import { Rng } from '../../src/rng.js';
import { ASSETS, DEFAULT_MODEL, FIXTURES, buildModel, bytesOf, randomTensor, tempDir } from '../helpers.js';

const CALIB = join(ASSETS, 'cifar10/calib');
const TEST = join(ASSETS, 'cifar10/test');

test('the exported model.onnx keeps the simulated top-1 within 0.2 points at W8A8, W4A8 and W3A8 (ViT and ResNet, 1,000 images)', async () => {
  for (const model of [DEFAULT_MODEL, join(FIXTURES, 'resnet-cifar10-small')]) {
    for (const wBits of [8, 4, 3] as const) {
      const out = join(tempDir(), 'out');
      const report = await quantize({
        model,
        calib: CALIB,
        eval: TEST,
        out,
        options: { floatFallback: false, wBits, calibSize: 300, holdout: 50, evalLimit: 1000, speed: false },
      });
      const name = `${model} W${wBits}A8`;
      assert.equal(report.evaluatedOn.n, 1000);
      assert.ok(
        Math.abs(report.exported.top1! - report.baseline.top1!) <= 0.002 + 1e-9,
        `${name}: exported ${report.exported.top1!}, simulated ${report.baseline.top1!}`,
      );
      assert.ok(
        report.exported.sizeRatio <= (wBits === 8 ? 0.3 : 0.18),
        `${name}: ${report.exported.sizeRatio} of the float file`,
      );
      assert.equal(report.exported.opset, wBits === 8 ? 17 : 21);
      // 4-bit MatMul and Conv weights are stored as nibbles (the default per-channel format).
      assert.ok(report.exported.weights[wBits === 8 ? 'int8' : 'uint4-nibbles'].tensors > 0);
      assert.ok(Object.keys(report.exported.kernels).length > 0, 'the kernels onnxruntime chose are reported');
      assert.ok(existsSync(join(out, 'model.onnx')));
    }
  }
});

test('a failed export leaves no output folder and no partial files', async () => {
  // GroupNormalization changed meaning in opset 21, so this model cannot be written with uint4 weights.
  const rng = new Rng(1);
  const dir = join(tempDir(), 'gn-model');
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'model.onnx'),
    bytesOf(
      buildModel({
        inputs: [{ name: 'pixel_values', shape: ['N', 3, 32, 32] }],
        outputs: ['logits'],
        opset: 18,
        inits: [
          { name: 'Wc', dims: [4, 3, 3, 3], values: randomTensor(rng, 108, 0.3) },
          { name: 'gamma', dims: [2], values: Float32Array.of(1, 1) },
          { name: 'beta', dims: [2], values: Float32Array.of(0, 0) },
          { name: 'Wf', dims: [10, 4], values: randomTensor(rng, 40, 0.5) },
        ],
        nodes: [
          { op: 'Conv', inputs: ['pixel_values', 'Wc'], outputs: ['c'] },
          { op: 'GroupNormalization', inputs: ['c', 'gamma', 'beta'], outputs: ['g'], attrs: { num_groups: 2 } },
          { op: 'GlobalAveragePool', inputs: ['g'], outputs: ['p'] },
          { op: 'Flatten', inputs: ['p'], outputs: ['f'] },
          { op: 'Gemm', inputs: ['f', 'Wf'], outputs: ['logits'], attrs: { transB: 1 } },
        ],
      }),
    ),
  );
  copyFileSync(join(DEFAULT_MODEL, 'preprocessor_config.json'), join(dir, 'preprocessor_config.json'));
  copyFileSync(join(DEFAULT_MODEL, 'config.json'), join(dir, 'config.json'));
  const parent = tempDir();
  const out = join(parent, 'out');
  await assert.rejects(
    quantize({
      model: dir,
      calib: CALIB,
      out,
      options: { floatFallback: false, wBits: 4, calibSize: 50, holdout: 10 },
    }),
    /GroupNormalization 'GroupNormalization_1' changed meaning in opset 21/,
  );
  assert.deepEqual(readdirSync(parent), [], 'nothing written');
  // The same model exports at 8 bits, where the opset stays.
  const report = await quantize({
    model: dir,
    calib: CALIB,
    out,
    options: { floatFallback: false, wBits: 8, calibSize: 50, holdout: 10 },
  });
  assert.equal(report.exported.opset, 18);
  assert.ok(existsSync(join(out, 'model.onnx')));
});

test('--export-format blocked: MatMulNBits in model.onnx and in the kernels report.json lists, blocked granularity in config.json, exported top-1 within 0.2 points of the simulation', async () => {
  const out = join(tempDir(), 'out');
  const report = await quantize({
    model: DEFAULT_MODEL,
    calib: CALIB,
    eval: TEST,
    out,
    options: { floatFallback: false, wBits: 4, exportFormat: 'blocked', calibSize: 300, holdout: 50, evalLimit: 1000 },
  });
  assert.ok(
    Math.abs(report.exported.top1! - report.baseline.top1!) <= 0.002 + 1e-9,
    `exported ${report.exported.top1!}, simulated ${report.baseline.top1!}`,
  );
  assert.ok(report.exported.kernels['com.microsoft:MatMulNBits'] > 0, JSON.stringify(report.exported.kernels));
  assert.ok(report.exported.weights['uint4-blocked'].tensors > 0);
  assert.ok(report.exported.sizeRatio <= 0.22, `${report.exported.sizeRatio} of the float file`);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(config.quantization_config.weight_granularity, 'block-32');
  assert.equal(config.quantization_config.export_format, 'blocked');
  await assert.rejects(
    quantize({
      model: DEFAULT_MODEL,
      calib: CALIB,
      out: join(tempDir(), 'out'),
      options: { floatFallback: false, wBits: 8, exportFormat: 'blocked' },
    }),
    /options\.exportFormat: 'blocked' stores 4 or 3-bit weights, not 8/,
  );
  await assert.rejects(
    quantize({
      model: DEFAULT_MODEL,
      calib: CALIB,
      out: join(tempDir(), 'out'),
      options: { floatFallback: false, wBits: 4, exportFormat: 'blocked', preset: 'paper' },
    }),
    /options\.weightCorrection .* not written for options\.exportFormat: 'blocked'/,
  );
});

test('4 and 3-bit weights (per-channel, the default): MatMul weights stored as uint8 nibbles run as MatMulIntegerToFloat, exported top-1 within 0.2 points of the simulation at W4A8 and W3A8, at most 18% of the float file', async () => {
  for (const wBits of [4, 3] as const) {
    const out = join(tempDir(), 'out');
    const report = await quantize({
      model: DEFAULT_MODEL,
      calib: CALIB,
      eval: TEST,
      out,
      options: { floatFallback: false, wBits, calibSize: 300, holdout: 50, evalLimit: 1000 },
    });
    const name = `W${wBits}A8`;
    assert.ok(
      Math.abs(report.exported.top1! - report.baseline.top1!) <= 0.002 + 1e-9,
      `${name}: exported ${report.exported.top1!}, simulated ${report.baseline.top1!}`,
    );
    assert.ok(report.exported.sizeRatio <= 0.18, `${name}: ${report.exported.sizeRatio} of the float file`);
    assert.equal(
      report.exported.weights['uint4-nibbles'].tensors,
      24 + 1 + 1,
      `${name}: every MatMul weight of the 6 blocks, the Gemm head's and the patch embedding Conv's`,
    );
    assert.equal(
      report.exported.kernels['com.microsoft:MatMulIntegerToFloat'],
      24 + 1 + 6,
      `${name}: ${JSON.stringify(report.exported.kernels)}`,
    );
    for (const op of ['BitwiseAnd', 'BitShift', 'MatMul', 'Gemm'])
      assert.equal(
        report.exported.kernels[op],
        undefined,
        `${name}: ${op} left after load: ${JSON.stringify(report.exported.kernels)}`,
      );
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(config.quantization_config.export_format, 'per-channel');
    assert.equal(config['transformers.js_config'].dtype, 'q4');
  }
});

test('--preset paper: model.onnx matches the simulation (integer LayerNorm and weight correction exported), and Evol-Q searches with it', async () => {
  for (const [model, wBits, method] of [
    [DEFAULT_MODEL, 4, 'baseline'],
    [join(FIXTURES, 'swin-cifar10-tiny'), 8, 'baseline'],
    [join(FIXTURES, 'vit-cifar10-tiny'), 3, 'evolq'],
  ] as const) {
    const out = join(tempDir(), 'out');
    const report = await quantize({
      model,
      calib: CALIB,
      eval: TEST,
      out,
      // The paper's full-range 8-bit weights are exact only on CPUs with VNNI; --reduce-range makes them exact on any.
      options: {
        floatFallback: false,
        preset: 'paper',
        reduceRange: true,
        method,
        wBits,
        calibSize: 100,
        holdout: 20,
        evalLimit: 500,
        passes: 1,
        cycles: 1,
      },
    });
    const name = `${model} W${wBits}A8 ${method}`;
    const simulated = report.evolq ?? report.baseline;
    // The integer LayerNorm rounds, so onnxruntime's integer kernels can move a logit by a level: up to 2 of 500 images.
    assert.ok(
      Math.abs(report.exported.top1! - simulated.top1!) <= 0.004 + 1e-9,
      `${name}: exported ${report.exported.top1!}, simulated ${simulated.top1!}`,
    );
    const kinds = new Set(report.exported.floatSubgraphs.map((s) => s.kind));
    assert.ok(kinds.has('integer-layernorm') && kinds.has('ptf'), `${name}: ${[...kinds]}`);
    assert.ok(kinds.has('weight-correction'), `${name}: the patch Conv's correction offset is a float Add`);
    const corrected = report.exported.floatSubgraphs
      .filter((sub) => sub.kind === 'weight-correction')
      .map((sub) => sub.point);
    if (model === DEFAULT_MODEL)
      assert.equal(
        corrected.length,
        1,
        `${name}: only the patch Conv's offset is a float Add; the Gemm head's is an integer-path shift: ${corrected}`,
      );
    if (method === 'evolq') {
      // One pass over every unit with the authors' search; whether it is kept depends on 20 holdout images.
      assert.equal(report.search!.passesRun, 1, name);
      assert.ok(report.search!.trajectory.length > 0 && report.search!.evaluations > 0, `${name}: the search ran`);
      assert.equal(report.search!.select, 'loss', `${name}: the authors' selection`);
    }
  }
});

test('--float-layers Gemm: the head stays float in model.onnx and the simulation, report.json says why', async () => {
  const out = join(tempDir(), 'out');
  const report = await quantize({
    model: join(FIXTURES, 'resnet-cifar10-small'),
    calib: CALIB,
    eval: TEST,
    out,
    options: { floatFallback: false, floatLayers: ['Gemm'], calibSize: 100, holdout: 20, evalLimit: 300, speed: false },
  });
  assert.deepEqual(report.exported.floatLayers, [{ node: '/fc/Gemm', opType: 'Gemm', reason: '--float-layers Gemm' }]);
  assert.equal(report.exported.kernels.Gemm, 1, `the float Gemm runs: ${JSON.stringify(report.exported.kernels)}`);
  assert.ok(Math.abs(report.exported.top1! - report.baseline.top1!) <= 0.004 + 1e-9);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.deepEqual(config.quantization_config.float_layers, ['Gemm']);
});

test('--float-fallback: each layer class is timed float against integer on this CPU, the faster-as-float ones stay float in model.onnx and the simulation', async () => {
  const out = join(tempDir(), 'out');
  const report = await quantize({
    model: join(FIXTURES, 'resnet-cifar10-small'),
    calib: CALIB,
    eval: TEST,
    out,
    options: { floatFallback: true, calibSize: 100, holdout: 20, evalLimit: 300, speed: false },
  });
  const profile = report.floatFallback!;
  assert.deepEqual(profile.classes.map((c) => [c.layerClass, c.layers]).sort(), [
    ['Conv', 9],
    ['Gemm', 1],
  ]);
  assert.ok(profile.classes.every((c) => c.speedup > 0 && c.float === c.speedup > 1.05));
  // Which classes go float depends on this CPU; what is reported float is what the profile chose, and model.onnx
  // still computes its simulation.
  const floatClasses = profile.classes.filter((c) => c.float).map((c) => c.layerClass);
  const expected = floatClasses.reduce((n, c) => n + (c === 'Conv' ? 9 : 1), 0);
  assert.equal(report.exported.floatLayers.length, expected);
  assert.ok(report.exported.floatLayers.every((l) => l.reason.startsWith('--float-fallback: model.onnx ran')));
  assert.equal(profile.floatLayers.length, expected);
  if (expected < 10) assert.ok(Math.abs(report.exported.top1! - report.baseline.top1!) <= 0.004 + 1e-9);
  else assert.match(report.warnings.join('\n'), /no layer is quantized/);
});

for (const wBits of [8, 4] as const)
  test(`--conv-outputs (the default), W${wBits}A8: every Conv of the ResNet runs as QLinearConv (but the stem, which reads the float image), and model.onnx computes its simulation`, async () => {
    const report = await quantize({
      model: join(FIXTURES, 'resnet-cifar10-small'),
      calib: CALIB,
      eval: TEST,
      out: join(tempDir(), 'out'),
      options: { wBits, floatFallback: false, calibSize: 100, holdout: 20, evalLimit: 500, speed: false },
    });
    const k = report.exported.kernels;
    assert.equal(k['com.microsoft:QLinearConv'], 8, JSON.stringify(k));
    assert.equal(k.Conv ?? 0, 0, JSON.stringify(k));
    // At 4 bits the Conv weights are stored as nibbles and widened to int8 at load, which QLinearConv needs.
    if (wBits === 4) assert.equal(report.exported.weights['uint4-nibbles'].tensors, 10);
    assert.ok(Math.abs(report.exported.top1! - report.baseline.top1!) <= 0.002 + 1e-9);
    assert.ok(Math.abs(report.exported.toFloat!.kl! / report.baseline.toFloat!.kl! - 1) < 0.1);
  });
