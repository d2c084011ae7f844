// Hugging Face layouts in, a transformers.js model folder out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pipeline, env } from '@huggingface/transformers';
import { loadModel } from '../../src/model.js';
import { inspectModel } from '../../src/pipeline/inspect.js';
import { evaluateModel } from '../../src/pipeline/evaluate-model.js';
import { quantize } from '../../src/pipeline/quantize.js';
import { listImageFolder, limitPerClass, decodeImages } from '../../src/data/imagefolder.js';
import { defaultRunner } from '../../src/runtime/runner.js';
import { ASSETS, DEFAULT_MODEL, FIXTURES, tempDir } from '../helpers.js';
import { renameGraphValues } from '../../src/export/model-folder.js';

const TEST = join(ASSETS, 'cifar10/test');

/** The bundled model in the layout transformers.js repositories use: configs at the root, models in onnx/. */
function transformersJsLayout(files: string[]): string {
  const dir = join(tempDir(), 'tjs-model');
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  for (const f of ['config.json', 'preprocessor_config.json']) copyFileSync(join(DEFAULT_MODEL, f), join(dir, f));
  for (const f of files) copyFileSync(join(DEFAULT_MODEL, 'model.onnx'), join(dir, 'onnx', f));
  return dir;
}

test('a transformers.js-layout folder (onnx/model.onnx) loads, and --model-file picks another file in onnx/', async () => {
  const dir = transformersJsLayout(['model.onnx', 'model_fp16.onnx']);
  assert.equal(loadModel(dir).file, join(dir, 'onnx', 'model.onnx'));
  assert.equal(loadModel(dir, { modelFile: 'model_fp16' }).file, join(dir, 'onnx', 'model_fp16.onnx'));
  assert.equal(loadModel(dir, { modelFile: 'model_fp16.onnx' }).file, join(dir, 'onnx', 'model_fp16.onnx'));
  assert.equal(inspectModel(dir).units.length, 6);
  const accuracy = await evaluateModel(dir, { data: TEST, limit: 100 });
  const reference = await evaluateModel(DEFAULT_MODEL, { data: TEST, limit: 100 });
  assert.equal(accuracy.top1, reference.top1);
  assert.throws(
    () => loadModel(dir, { modelFile: 'model_q4' }),
    /tjs-model: no model file \(looked for onnx\/model_q4\.onnx and model_q4\.onnx\)/,
  );
  assert.throws(() => loadModel(dir, { modelFile: '../model.onnx' }), /--model-file must be a file name/);
  assert.throws(
    () => loadModel(join(dir, 'onnx', 'model.onnx'), { modelFile: 'model_fp16' }),
    /--model-file picks a file in a model folder/,
  );
  const empty = transformersJsLayout([]);
  assert.throws(() => loadModel(empty), /no model file \(looked for model\.onnx and onnx\/model\.onnx\)/);
});

test('the output folder is a transformers.js model: pipeline() loads it as it is and agrees with onnxruntime on 200 images', async () => {
  const model = loadModel(DEFAULT_MODEL);
  const items = limitPerClass(listImageFolder(TEST, model.labels), 200);
  const images = await decodeImages(items, model.preprocessing);
  for (const [wBits, dtype, file] of [
    [8, 'q8', 'onnx/model_quantized.onnx'],
    [4, 'q4', 'onnx/model_q4.onnx'],
  ] as const) {
    const out = join(tempDir(), `vit-w${wBits}`);
    const report = await quantize({
      model: DEFAULT_MODEL,
      calib: join(ASSETS, 'cifar10/calib'),
      out,
      options: { floatFallback: false, wBits, calibSize: 200, holdout: 50 },
    });
    assert.deepEqual(report.exported.transformersJs, { dtype, file, imageProcessorAdded: 'ViTImageProcessor' });
    assert.equal(
      statSync(join(out, file)).ino,
      statSync(join(out, 'model.onnx')).ino,
      `${file} is model.onnx, stored once`,
    );
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(config.model_type, 'vit', 'the input config is kept');
    assert.equal(config.quantization_config.quant_method, 'evolq');
    assert.equal(config.quantization_config.w_bits, wBits);
    assert.equal(config['transformers.js_config'].dtype, dtype);
    assert.equal(
      JSON.parse(readFileSync(join(out, 'preprocessor_config.json'), 'utf8')).image_processor_type,
      'ViTImageProcessor',
    );

    // What onnxruntime says OUT/model.onnx predicts, image by image.
    const session = await defaultRunner.createSession(join(out, 'model.onnx'));
    const logits = (
      await session.run({ [model.inputName]: { data: images.data, dims: images.dims } }, [model.outputName])
    )[model.outputName].data;
    await session.release();
    const expected = items.map((_, i) => {
      const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
      return model.labels![row.indexOf(Math.max(...row))];
    });

    env.allowRemoteModels = false;
    env.localModelPath = dirname(out);
    const classify = await pipeline('image-classification', 'vit-w' + wBits);
    try {
      const predicted: string[] = [];
      for (const item of items)
        predicted.push(((await classify(item.file, { top_k: 1 })) as { label: string }[])[0].label);
      const agree = predicted.filter((label, i) => label === expected[i]).length;
      assert.equal(
        agree,
        items.length,
        `W${wBits}: transformers.js and onnxruntime agree on ${agree}/${items.length} images`,
      );
    } finally {
      await classify.dispose();
    }
  }
});

test('a bare export (no config.json or preprocessor_config.json, input "input", output "output") comes out as a transformers.js model that agrees with model.onnx', async () => {
  const mean = [0.4914, 0.4822, 0.4465];
  const std = [0.247, 0.2435, 0.2616];
  for (const source of [join(DEFAULT_MODEL, 'model.onnx'), join(FIXTURES, 'resnet-cifar10-small', 'model.onnx')]) {
    const dir = join(tempDir(), 'bare');
    mkdirSync(dir);
    const bare = join(dir, 'model.onnx');
    const renames: [string, string][] = [
      ['pixel_values', 'input'],
      ['logits', 'output'],
    ];
    writeFileSync(bare, renameGraphValues(readFileSync(source), renames));
    const out = join(tempDir(), 'bare-w8');
    const report = await quantize({
      model: bare,
      calib: join(ASSETS, 'cifar10/calib'),
      out,
      modelOptions: { mean, std },
      options: { floatFallback: false, calibSize: 100, holdout: 20, speed: false },
    });
    const added = report.exported.transformersJs.added ?? [];
    assert.match(added.join('\n'), /config\.json: model_type 'vit' .* id2label for 10 classes \(LABEL_0/);
    assert.match(added.join('\n'), /input 'input' is named 'pixel_values'[^]*output 'output' is named 'logits'/);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.deepEqual([config.model_type, config.id2label['3']], ['vit', 'LABEL_3']);

    const model = loadModel(bare, { mean, std });
    const items = limitPerClass(listImageFolder(TEST), 50);
    const images = await decodeImages(items, model.preprocessing);
    const session = await defaultRunner.createSession(join(out, 'model.onnx'));
    const logits = (await session.run({ input: { data: images.data, dims: images.dims } }, ['output'])).output.data;
    await session.release();
    env.allowRemoteModels = false;
    env.localModelPath = dirname(out);
    const classify = await pipeline('image-classification', basename(out));
    try {
      let agree = 0;
      for (const [i, item] of items.entries()) {
        const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
        const label = ((await classify(item.file, { top_k: 1 })) as { label: string }[])[0].label;
        if (label === `LABEL_${row.indexOf(Math.max(...row))}`) agree++;
      }
      assert.equal(agree, items.length, `${source}: transformers.js and onnxruntime agree on ${agree}/${items.length}`);
    } finally {
      await classify.dispose();
    }
  }
});
