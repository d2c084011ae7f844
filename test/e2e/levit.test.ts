// LeViT as the Evol-Q code quantizes it: BatchNorm folded into its Linear/Conv layers before quantization,
// and every attention searched, the shrinking ones (no residual around them) included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { loadModel } from '../../src/model.js';
import { findQuantPoints } from '../../src/quant/points.js';
import { findUnits } from '../../src/quant/units.js';
import { inspectModel } from '../../src/pipeline/inspect.js';
import { quantize } from '../../src/pipeline/quantize.js';
import { Graph } from '../../src/onnx/graph.js';
import { readModel } from '../../src/onnx/proto.js';
import { ASSETS, FIXTURES, tempDir } from '../helpers.js';

const LEVIT = join(FIXTURES, 'levit');
const CALIB = join(ASSETS, 'cifar10/calib');
const TEST = join(ASSETS, 'cifar10/test');
const countOps = (graph: Graph, op: string) => graph.nodes.filter((n) => n.opType === op).length;

test('LeViT: every BatchNormalization folds, and 8 attention units are found for 6 residual and 2 shrinking attentions', () => {
  const original = new Graph(readModel(join(LEVIT, 'model.onnx')));
  assert.equal(
    countOps(original, 'BatchNormalization'),
    36,
    'the export runs a BatchNorm after every Linear and stem Conv, and before each head',
  );
  const report = inspectModel(LEVIT);
  assert.deepEqual(report.batchNorm, { folded: 36, kept: [] });
  assert.equal(report.units.length, 8);
  assert.ok(report.units.every((u) => u.kind === 'attention'));
  const model = loadModel(LEVIT);
  assert.equal(countOps(model.graph, 'BatchNormalization'), 0);
  const points = findQuantPoints(model.graph);
  const byId = new Map(points.map((p) => [p.id, p]));
  const units = findUnits(model.graph, points);
  // Residual attentions: qkv and proj; shrinking ones (blocks.4 and blocks.10): kv, q and proj, and their input is
  // the stage's residual stream, not the output of an Add around them.
  const shrinking = units.filter((u) => u.points.length === 3);
  assert.deepEqual(
    shrinking.map((u) => u.name),
    ['blocks/blocks.4', 'blocks/blocks.10'],
  );
  for (const u of shrinking)
    assert.deepEqual(u.points.map((id) => byId.get(id)!.node.split('/')[3]).sort(), ['kv', 'proj', 'q']);
  for (const u of units.filter((x) => x.points.length === 2))
    assert.deepEqual(
      u.points.map((id) => byId.get(id)!.node.split('/')[4]),
      ['qkv', 'proj'],
    );
  // With --search-space block, each MLP after an attention joins it, shrinking attentions included.
  const blocks = findUnits(model.graph, points, 'block');
  assert.equal(blocks.length, 8);
  assert.ok(
    blocks.every((u) => u.points.length >= 4),
    JSON.stringify(blocks.map((u) => u.points.length)),
  );
});

test('LeViT quantized and exported: no BatchNormalization left, integer kernels, and model.onnx keeps the simulated top-1', async () => {
  for (const wBits of [8, 4] as const) {
    const out = join(tempDir(), `levit-w${wBits}`);
    const report = await quantize({
      model: LEVIT,
      calib: CALIB,
      eval: TEST,
      out,
      options: { floatFallback: false, keepSimulation: true, wBits, calibSize: 300, holdout: 50, evalLimit: 1000 },
    });
    for (const file of ['model.onnx', 'simulation.onnx']) {
      const graph = new Graph(readModel(join(out, file)));
      assert.equal(countOps(graph, 'BatchNormalization'), 0, `${file} W${wBits}`);
    }
    assert.deepEqual(report.batchNorm, { folded: 36, kept: [] });
    // Folding costs nothing: unfolded, the same runs scored 60.6 / 53.0 (W8 / W4) against 60.5 / 52.8 folded.
    if (wBits === 8)
      assert.ok(
        report.baseline.top1! >= report.fp.top1! - 0.02,
        `W8A8 baseline ${report.baseline.top1!}, float ${report.fp.top1!}`,
      );
    assert.ok(
      Math.abs(report.exported.top1! - report.baseline.top1!) <= 0.002 + 1e-9,
      `W${wBits}: exported ${report.exported.top1!}, simulated ${report.baseline.top1!}`,
    );
    const kernels = Object.keys(report.exported.kernels);
    if (wBits === 8)
      assert.ok(
        kernels.some((k) => /MatMulIntegerToFloat|QLinearMatMul/.test(k)),
        `W8 runs integer kernels: ${kernels}`,
      );
    assert.ok(!kernels.includes('BatchNormalization'));
    assert.equal(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).batchNorm.folded, 36);
  }
});

test('Evol-Q searches all 8 LeViT attentions, last to first', async () => {
  const out = join(tempDir(), 'levit-evolq');
  const report = await quantize({
    model: LEVIT,
    calib: CALIB,
    out,
    options: {
      floatFallback: false,
      method: 'evolq',
      wBits: 4,
      calibSize: 100,
      holdout: 50,
      passes: 1,
      cycles: 1,
      population: 4,
    },
  });
  assert.deepEqual(
    report.search!.trajectory.map((r) => r.unit),
    [7, 6, 5, 4, 3, 2, 1, 0],
  );
  assert.ok(report.search!.trajectory.some((r) => r.name === 'blocks/blocks.4'));
});
