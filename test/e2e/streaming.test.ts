// Streamed calibration (ranges reduced in onnxruntime, OMSE and PTF as streaming statistics of the sample batch,
// chunks sized by the memory budget) chooses what the pre-streaming code chose (test/calibrate-reference.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { calibrate } from '../../src/calibrate/calibrate.js';
import type { CalibrationOptions } from '../../src/calibrate/table.js';
import { loadModel } from '../../src/model.js';
import { findQuantPoints } from '../../src/quant/points.js';
import { listImageFolder, decodeImages, batchRanges, sliceBatch } from '../../src/data/imagefolder.js';
import { defaultRunner, type FloatTensor } from '../../src/runtime/runner.js';
import { floatValueInfo } from '../../src/onnx/proto.js';
import { scaleAndZeroPoint, uintRange } from '../../src/quant/scheme.js';
import { referenceOmse, referencePtfAlpha } from '../calibrate-reference.js';
import { ASSETS, DEFAULT_MODEL, FIXTURES } from '../helpers.js';

/**
 * The calibration as evolq computed it before streaming: every activation tensor of each batch fetched whole,
 * min and max in JavaScript, OMSE and PTF on the last batch with the reference algorithms.
 */
async function referenceTable(modelDir: string, imagesDir: string, count: number, options: CalibrationOptions) {
  const model = loadModel(modelDir);
  const points = findQuantPoints(model.graph).filter(
    (p) => p.kind !== 'weight' && !(p.kind === 'softmax' && options.lis),
  );
  const items = listImageFolder(imagesDir, model.labels)
    .items.filter((_, i) => i % 7 === 0)
    .slice(0, count);
  const images = await decodeImages(items, model.preprocessing);
  const probe = model.graph.clone();
  const tensors = [...new Set(points.map((p) => p.tensor))].filter((t) => t !== model.inputName);
  for (const t of tensors) if (!probe.isGraphOutput(t)) probe.outputs.push(floatValueInfo(t));
  const session = await defaultRunner.createSession(probe.toBytes());
  const ranges = new Map<string, { min: number; max: number }>();
  let last: Record<string, FloatTensor> = {};
  for (const [start, end] of batchRanges(images.dims[0], options.batchSize)) {
    const batch = sliceBatch(images, start, end);
    const pixels = { data: batch.data, dims: batch.dims };
    last = { ...(await session.run({ [model.inputName]: pixels }, tensors)), [model.inputName]: pixels };
    for (const [t, value] of Object.entries(last)) {
      const r = ranges.get(t) ?? { min: Infinity, max: -Infinity };
      for (const v of value.data) {
        if (v < r.min) r.min = v;
        if (v > r.max) r.max = v;
      }
      ranges.set(t, r);
    }
  }
  await session.release();
  const expected: Record<string, { scale: number; zeroPoint: number; alpha?: number[] }> = {};
  for (const p of points) {
    const { min, max } = ranges.get(p.tensor)!;
    const sample = last[p.tensor];
    if (p.kind === 'layernorm' && options.ptf) {
      const channels = sample.dims[sample.dims.length - 1];
      const widest = scaleAndZeroPoint(min, max, uintRange(options.aBits));
      expected[p.id] = {
        scale: Math.fround(widest.scale / 8),
        zeroPoint: widest.zeroPoint,
        alpha: referencePtfAlpha(min, max, sample.data, channels, options.aBits),
      };
    } else {
      const r = referenceOmse(min, max, sample.data, options.aBits);
      expected[p.id] = { scale: Math.fround(r.scale), zeroPoint: r.zeroPoint };
    }
  }
  return { model, points: findQuantPoints(model.graph), images, expected };
}

const OPTIONS: CalibrationOptions = {
  wBits: 8,
  aBits: 8,
  observer: 'omse',
  ptf: true,
  lis: false,
  biasCorrection: false,
  batchSize: 20,
};

for (const [name, dir] of [
  ['vit-cifar10 (assets)', DEFAULT_MODEL],
  ['resnet-cifar10-small', join(FIXTURES, 'resnet-cifar10-small')],
] as const) {
  test(`streamed calibration of ${name} equals the pre-streaming one, at any memory budget, on any number of threads`, async () => {
    // 50 images in batches of 20: OMSE and PTF measure the last batch of 10.
    const { model, points, images, expected } = await referenceTable(dir, join(ASSETS, 'cifar10/calib'), 50, OPTIONS);
    const tables = [];
    // The sample statistics in this thread, then on three worker threads.
    for (const [memoryBudget, sampleThreads] of [
      [2 ** 30, 1],
      [1, 3],
    ]) {
      const table = await calibrate(defaultRunner, model.graph, model.inputName, points, images, {
        ...OPTIONS,
        memoryBudget,
        sampleThreads,
        ptfRefit: true,
      });
      const chunks = table.chunks!;
      if (memoryBudget === 1) assert.deepEqual([chunks.chunk, chunks.sampleChunk], [1, 1], 'an image at a time');
      for (const [id, want] of Object.entries(expected)) {
        const got = table.params[id];
        assert.ok(got.kind === 'uniform');
        assert.deepEqual(
          [got.scale[0], got.zeroPoint[0]],
          [want.scale, want.zeroPoint],
          `${id} (${memoryBudget} bytes)`,
        );
        if (want.alpha)
          assert.deepEqual(
            Array.from(got.channelFactor!, (f) => Math.log2(f)),
            want.alpha,
            `${id} α`,
          );
      }
      tables.push(table);
    }
    assert.deepEqual(tables[1].params, tables[0].params);
    assert.deepEqual(tables[1].ranges, tables[0].ranges);
    if (name.startsWith('vit')) assert.ok(Object.keys(tables[0].refittedPtf ?? {}).length, 'the refit ran');
    assert.deepEqual(tables[1].refittedPtf, tables[0].refittedPtf);
    if (!name.startsWith('vit')) return;
    // FQ-ViT's integer LayerNorm shifts by the PTF factors: with it the refit keeps powers of two.
    const integer = await calibrate(defaultRunner, model.graph, model.inputName, points, images, {
      ...OPTIONS,
      ptfRefit: true,
      integerLayerNorm: true,
    });
    for (const [id, p] of Object.entries(integer.refittedPtf!)) {
      assert.ok(
        p.kind === 'uniform' && p.channelFactor!.every((f) => Number.isInteger(Math.log2(f))),
        `${id}: ${p.kind === 'uniform' && p.channelFactor}`,
      );
    }
  });
}
