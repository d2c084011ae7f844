import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as evolq from '../../src/index.js';
import { writeFileSync } from 'node:fs';
import { DEFAULT_MODEL, ASSETS, tempDir } from '../helpers.js';

test("the README's library example runs: stage by stage from a model folder to a quantized model.onnx", async () => {
  const { prepare, decodeImages, calibrateBaseline, deployableGraph, resolveOptions, OrtRunner } = evolq;
  const options = resolveOptions({ wBits: 4, calibSize: 200, holdout: 50 });
  const prepared = prepare({
    model: DEFAULT_MODEL,
    calib: join(ASSETS, 'cifar10/calib'),
    options,
    holdout: { count: options.holdout, option: 'holdout' },
  });
  const runner = new OrtRunner();
  const images = await decodeImages(prepared.splits.calibration, prepared.model.preprocessing);
  const table = await calibrateBaseline(runner, prepared, images, options);
  const { graph } = deployableGraph(prepared.model.graph, prepared.points, table.params, table.inputMeans);
  const file = join(tempDir(), 'vit-w4a8.onnx');
  writeFileSync(file, graph.toBytes());
  const accuracy = await evolq.evaluateModel(file, {
    data: join(ASSETS, 'cifar10/test'),
    limit: 200,
    mean: prepared.model.preprocessing.mean,
    std: prepared.model.preprocessing.std,
  });
  assert.ok(accuracy.top1 > 0.5, `W4A8 top-1 ${accuracy.top1}`);
});
