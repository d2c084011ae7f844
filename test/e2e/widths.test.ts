import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { quantize } from '../../src/pipeline/quantize.js';
import { ASSETS, DEFAULT_MODEL, FIXTURES, tempDir } from '../helpers.js';

const CALIB = join(ASSETS, 'cifar10/calib');
const TEST = join(ASSETS, 'cifar10/test');
const QUICK = { floatFallback: false, calibSize: 300, holdout: 50, evalLimit: 500, speed: false } as const;

test('--size-budget gives each weight 8, 4 or 2 bits within the budget, runs as simulated, and beats uniform 4-bit on the holdout', async () => {
  const out = join(tempDir(), 'out');
  // Uniform 4-bit weights take 17.6% of the bundled ViT's file: 18% leaves room for some 8-bit layers.
  const report = await quantize({
    model: DEFAULT_MODEL,
    calib: CALIB,
    eval: TEST,
    out,
    options: { ...QUICK, sizeBudget: '0.18' },
  });
  const widths = report.widths!;
  assert.equal(widths.budget.kind, 'size');
  if (widths.budget.kind !== 'size') return;
  const file = statSync(join(out, 'model.onnx')).size;
  assert.equal(widths.budget.bytes, Math.floor(0.18 * report.exported.floatBytes));
  assert.ok(file <= widths.budget.bytes, `model.onnx ${file} bytes within ${widths.budget.bytes}`);
  assert.equal(widths.bytes, file, 'the widths report the file written');
  assert.ok(
    Math.abs(widths.predictedBytes - file) < 0.01 * file,
    `predicted ${widths.predictedBytes}, written ${file}`,
  );
  assert.deepEqual(
    widths.uniform.map((u) => u.bits),
    [8, 4, 2],
  );
  const budget = widths.budget.bytes;
  assert.ok(widths.uniform[1].bytes <= budget && widths.uniform[0].bytes > budget);
  // Every weight point has a width, and the budget leaves some at 8 and some narrower.
  assert.equal(widths.layers.length, report.points.weight);
  const counts = (bits: number) => widths.layers.filter((l) => l.bits === bits).length;
  assert.ok(counts(8) > 0 && counts(8) < widths.layers.length, `${counts(8)} at 8 bits`);
  for (const layer of widths.layers) assert.deepEqual(Object.keys(layer.rise).sort(), ['2', '4'], layer.node);
  assert.equal(widths.sensitivity!.measure, 'kl');
  assert.equal(widths.sensitivity!.images, 256);
  // The assignment was kept because the holdout measured it below uniform 4-bit (the widest uniform that fits).
  assert.equal(widths.kept, 'assignment');
  const [eight, four, two] = widths.uniform.map((u) => u.holdout!);
  const chosen = widths.holdout!.assignment;
  assert.ok(eight < chosen && chosen < four && four < two, JSON.stringify({ eight, chosen, four, two }));
  // The most sensitive weight at 4 bits, the patch embedding, keeps 8.
  const top = [...widths.layers].sort((a, b) => b.rise[4] - a.rise[4])[0];
  assert.equal(top.bits, 8, `${top.node} rises ${top.rise[4]} at 4 bits`);
  // What onnxruntime runs is what was simulated; and the packed storage follows each weight's width.
  assert.ok(Math.abs(report.exported.top1! - report.baseline.top1!) <= 0.002 + 1e-9);
  assert.ok(
    Math.abs(report.exported.toFloat!.kl! - report.baseline.toFloat!.kl!) <= 0.05 * report.baseline.toFloat!.kl!,
  );
  assert.equal(report.exported.weights.int8.tensors + report.exported.weights.uint4.tensors > 0, true);
  assert.equal(report.verdict.model, 'W8/4/2A8 baseline model.onnx');
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).quantization_config;
  assert.equal(config.weight_storage, 'mixed');
  assert.deepEqual(config.w_bits_per_layer, Object.fromEntries(widths.layers.map((l) => [l.node, l.bits])));
  assert.equal(config.w_bits, Math.min(...widths.layers.map((l) => l.bits)));
});

test('--accuracy-budget finds the smallest widths whose holdout top-1 agrees with float within the budget', async () => {
  const out = join(tempDir(), 'out');
  const report = await quantize({
    model: DEFAULT_MODEL,
    calib: CALIB,
    out,
    options: { ...QUICK, calibSize: 100, evalLimit: undefined, accuracyBudget: 3 },
  });
  const widths = report.widths!;
  assert.equal(widths.budget.kind, 'accuracy');
  if (widths.budget.kind !== 'accuracy') return;
  const { tried } = widths.budget;
  // Float is a width under an accuracy budget by default.
  assert.deepEqual(widths.choices, [32, 8, 4, 2]);
  for (const layer of widths.layers) assert.deepEqual(Object.keys(layer.rise).sort(), ['2', '32', '4'], layer.node);
  // Every weight float first, then at 8 bits, then at the narrowest, then bisections: the kept file is the smallest
  // try within 3 points.
  assert.deepEqual(
    tried.slice(0, 3).map((t) => t.bytes),
    [widths.uniform[0].bytes, widths.uniform[1].bytes, widths.uniform[3].bytes],
  );
  const passing = tried.filter((t) => t.drop <= 3);
  assert.equal(widths.bytes, Math.min(...passing.map((t) => t.bytes)));
  if (tried[1].drop <= 3) assert.ok(widths.bytes <= widths.uniform[1].bytes, 'no larger than every weight at 8 bits');
  // Without --eval the accuracies are measured on the same holdout images: model.onnx keeps the measured agreement.
  assert.ok(report.exported.toFloat!.agreement! >= 0.97 - 1e-9, `agreement ${report.exported.toFloat!.agreement}`);
  await assert.rejects(
    quantize({
      model: DEFAULT_MODEL,
      calib: CALIB,
      out: join(tempDir(), 'out'),
      options: { ...QUICK, calibSize: 50, evalLimit: undefined, accuracyBudget: 0, wBitChoices: '2' },
    }),
    /^ConfigError: --accuracy-budget 0: with every weight at 2 bits, top-1 agrees with float on \d\d\.\d\d% of the 50 holdout images, \d+\.\d\d points below: give a budget of at least that, or add float to --w-bit-choices$/,
  );
});

test('a size budget below the narrowest widths or not below float is refused in one line, before anything is written', async () => {
  const out = join(tempDir(), 'out');
  await assert.rejects(
    quantize({
      model: DEFAULT_MODEL,
      calib: CALIB,
      out,
      options: { ...QUICK, sizeBudget: '0.05', calibSize: 50, evalLimit: undefined },
    }),
    /^ConfigError: --size-budget 0\.05: the smallest model\.onnx --w-bit-choices 8,4,2 reach is 0\.\d\d MiB \(0\.1\d\d of float\): give at least that$/,
  );
  await assert.rejects(
    quantize({
      model: DEFAULT_MODEL,
      calib: CALIB,
      out,
      options: { ...QUICK, sizeBudget: '4MB', calibSize: 50, evalLimit: undefined },
    }),
    /^ConfigError: --size-budget 4\.00 MiB is not below the float model's 3\.15 MiB: give a smaller budget, or leave it out$/,
  );
  await assert.rejects(
    quantize({
      model: DEFAULT_MODEL,
      calib: CALIB,
      out,
      options: { ...QUICK, sizeBudget: '0.1', wBitChoices: '8,4', calibSize: 50, evalLimit: undefined },
    }),
    /the smallest model\.onnx --w-bit-choices 8,4 reach is/,
  );
  assert.equal(existsSync(out), false);
});

test('uniform 2-bit weights (--w-bits 2) are stored four to a byte, Convs and MatMuls alike, and run as simulated', async () => {
  for (const model of [DEFAULT_MODEL, join(FIXTURES, 'resnet-cifar10-small')]) {
    const out = join(tempDir(), 'out');
    const report = await quantize({ model, calib: CALIB, eval: TEST, out, options: { ...QUICK, wBits: 2 } });
    const { weights } = report.exported;
    assert.ok(weights['uint2-packed'].tensors > 0, JSON.stringify(weights));
    assert.equal(weights['uint4-nibbles'].tensors, 0, `${model}: no 4-bit nibbles at 2 bits`);
    assert.ok(
      Math.abs(report.exported.top1! - report.baseline.top1!) <= 0.002 + 1e-9,
      `${model}: exported ${report.exported.top1}, simulated ${report.baseline.top1}`,
    );
    assert.ok(report.exported.sizeRatio < 0.13, `${model}: ${report.exported.sizeRatio} of float`);
  }
});

test('float is a width: the layers it keeps float are float in model.onnx, which runs as simulated', async () => {
  const out = join(tempDir(), 'out');
  // Every weight at 2 bits takes 12% of the file: 30% leaves room for some float layers, which lose far less.
  const report = await quantize({
    model: DEFAULT_MODEL,
    calib: CALIB,
    eval: TEST,
    out,
    options: { ...QUICK, sizeBudget: '0.3', wBitChoices: 'float,2', speed: true },
  });
  const widths = report.widths!;
  const float = widths.layers.filter((l) => l.bits === 32);
  // A layer goes float where that lowers the measure: its rise there is below 0.
  assert.ok(float.length > 0, JSON.stringify(widths.layers.map((l) => l.rise)));
  for (const layer of float) assert.ok(layer.rise[32] < 0, `${layer.node}: ${layer.rise[32]}`);
  assert.deepEqual(
    report.exported.floatLayers.map((l) => l.node),
    float.map((l) => l.node),
  );
  assert.match(
    report.exported.floatLayers[0].reason,
    /^--size-budget: a float width \(kl -\d\.\d\de-\d from the widest integer width\)$/,
  );
  assert.equal(widths.kept, 'assignment');
  assert.ok(widths.holdout!.assignment < widths.uniform[1].holdout!, 'better than every weight at 2 bits');
  assert.ok(statSync(join(out, 'model.onnx')).size <= 0.3 * report.exported.floatBytes);
  assert.equal(report.points.weight, widths.layers.length - float.length, 'float layers have no weight quantizer');
  assert.equal(report.exported.weights['uint2-packed'].tensors, widths.layers.length - float.length);
  assert.ok(Math.abs(report.exported.top1! - report.baseline.top1!) <= 0.002 + 1e-9);
  assert.ok(
    Math.abs(report.exported.toFloat!.kl! - report.baseline.toFloat!.kl!) <= 0.05 * report.baseline.toFloat!.kl!,
  );
  assert.equal(report.verdict.model, 'Wfloat/2A8 baseline model.onnx');
  // With the speed timed: every uniform width, the chosen widths and each layer alone, beside float.
  assert.ok(widths.floatMs! > 0 && widths.ms! > 0);
  assert.deepEqual(
    widths.uniform.map((u) => u.ms! > 0),
    [true, true],
  );
  for (const layer of widths.layers) assert.ok(layer.ms!.float > 0 && layer.ms!.integer > 0, layer.node);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, /latency at batch 1 \(fraction of float's\)/);
});

test('--latency-budget: model.onnx within the budget as timed afterwards, each layer timed, or a refusal naming what is reachable', async () => {
  const out = join(tempDir(), 'out');
  // At 32 px the integer model's latency is near float's, and which is faster depends on the CPU: both outcomes are
  // checked for what they must say.
  const run = quantize({
    model: DEFAULT_MODEL,
    calib: CALIB,
    eval: TEST,
    out,
    options: { ...QUICK, calibSize: 100, latencyBudget: 0.98 },
  });
  const refused = await run.then(
    () => undefined,
    (err: Error) => err,
  );
  if (refused) {
    const reach =
      /^--latency-budget 0\.98: the fastest model\.onnx here, every weight at 8 bits, runs at (\d\.\d\d) of the float model's latency at batch 1 on this machine \([\d.]+ vs [\d.]+ ms\): give at least that$/.exec(
        refused.message,
      );
    assert.ok(reach, refused.message);
    assert.ok(Number(reach[1]) >= 0.98, reach[1]);
    assert.equal(existsSync(out), false);
    return;
  }
  const report = await run;
  const widths = report.widths!;
  assert.equal(widths.budget.kind, 'latency');
  if (widths.budget.kind !== 'latency') return;
  assert.deepEqual(widths.choices, [32, 8]);
  for (const layer of widths.layers) assert.ok(layer.ms!.float > 0 && layer.ms!.integer > 0, layer.node);
  // The kept model as timed when chosen: a try within the budget, or the integer model.
  const { measured, tried, integerMs, floatMs } = widths.budget;
  assert.ok(measured <= 0.98, `measured ${measured}`);
  const float = widths.layers.filter((l) => l.bits === 32).length;
  if (float) assert.ok(tried.some((t) => t.measured === measured));
  else assert.equal(measured, integerMs / floatMs);
  assert.ok(Math.abs(report.exported.top1! - report.baseline.top1!) <= 0.002 + 1e-9);
});
