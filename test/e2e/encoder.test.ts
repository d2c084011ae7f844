// Image encoders (--task image-feature-extraction): the bundled ViT cut before its head is found to be one, is
// searched on its embeddings, evaluated by cosine to float and k-NN top-1, and loads in transformers.js's
// image-feature-extraction pipeline, as a folder with configs and as a bare export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pipeline, env } from '@huggingface/transformers';
import { loadModel } from '../../src/model.js';
import { quantize } from '../../src/pipeline/quantize.js';
import { landscape } from '../../src/pipeline/landscape.js';
import { serveDemo } from '../../src/web/serve.js';
import { evaluateModel } from '../../src/pipeline/evaluate-model.js';
import { listImageFolder, limitPerClass, decodeImages } from '../../src/data/imagefolder.js';
import { defaultRunner } from '../../src/runtime/runner.js';
import { renameGraphValues } from '../../src/export/model-folder.js';
import { rowCosine } from '../../src/evaluate/embeddings.js';
import { spawnSync } from 'node:child_process';
import { ASSETS, BIN, DEFAULT_MODEL, tempDir } from '../helpers.js';
import { writeEncoderFolder } from '../encoder-fixture.js';

const CALIB = join(ASSETS, 'cifar10/calib');
const TEST = join(ASSETS, 'cifar10/test');
const ENCODER = join(tempDir(), 'vit-cifar10-encoder');
const { width } = writeEncoderFolder(DEFAULT_MODEL, ENCODER);

/** model.onnx's outputs for `files`, run by onnxruntime-node, one row each ([tokens × width] for token features). */
async function embeddings(modelFile: string, folder: string, files: string[]): Promise<Float32Array> {
  const model = loadModel(folder);
  const items = files.map((file) => ({ file, label: -1 }));
  const images = await decodeImages(items, model.preprocessing);
  const session = await defaultRunner.createSession(modelFile);
  try {
    const result = await session.run({ [model.inputName]: { data: images.data, dims: images.dims } }, [
      model.outputName,
    ]);
    return result[model.outputName].data;
  } finally {
    await session.release();
  }
}

/** transformers.js's image-feature-extraction pipeline on `files`, from the model folder `out`; one row each. */
async function transformersJsEmbeddings(out: string, files: string[], dims = [1, width]): Promise<Float32Array> {
  env.allowRemoteModels = false;
  env.localModelPath = dirname(out);
  const extract = await pipeline('image-feature-extraction', basename(out));
  try {
    const rows: number[] = [];
    for (const file of files) {
      const tensor = (await extract(file)) as unknown as { dims: number[]; data: Float32Array };
      assert.deepEqual(tensor.dims, dims);
      rows.push(...tensor.data);
    }
    return Float32Array.from(rows);
  } finally {
    await extract.dispose();
  }
}

function assertSameRows(a: Float32Array, b: Float32Array, rows: number, what: string): void {
  for (let r = 0; r < rows; r++) {
    const cosine = rowCosine(a, b, r, a.length / rows);
    assert.ok(cosine > 0.99999, `${what}: image ${r} has cosine ${cosine}`);
  }
}

test('the bundled ViT cut before its head is an image encoder: k-NN top-1 from eval, cosine and k-NN in the quantize verdict, and transformers.js extracts the same embeddings', async () => {
  assert.deepEqual(loadModel(ENCODER).task, {
    task: 'image-feature-extraction',
    reason: "the output is named 'image_embeds'",
  });
  const float = await evaluateModel(ENCODER, { data: TEST, limit: 300 });
  assert.equal(float.task, 'image-feature-extraction');
  assert.ok(float.top1 > 0.4 && float.top1 < 0.8, `float k-NN top-1 ${float.top1}`);
  const cli = spawnSync(process.execPath, [BIN, 'eval', ENCODER, '--data', TEST, '--limit', '300', '-q'], {
    encoding: 'utf8',
  });
  assert.equal(
    cli.stdout.trim(),
    `20-NN top-1 ${(100 * float.top1).toFixed(2)}%  top-5 ${(100 * float.top5).toFixed(2)}%  (300 images, leave-one-out over their embeddings)`,
  );
  // Scored as class logits on request (--task), the 128-wide embedding is 128 classes against 10 folders: a warning.
  const forced = spawnSync(
    process.execPath,
    [BIN, 'eval', ENCODER, '--data', TEST, '--limit', '50', '--task', 'image-classification', '--json', '-q'],
    { encoding: 'utf8' },
  );
  assert.match(
    JSON.parse(forced.stdout).warnings.join(),
    /^the model outputs 128 classes and its config\.json has no id2label/,
  );

  const out = join(tempDir(), 'encoder-w8a8');
  const report = await quantize({
    model: ENCODER,
    calib: CALIB,
    eval: TEST,
    out,
    options: { calibSize: 100, holdout: 20, evalLimit: 300, speed: false, floatFallback: false },
  });
  assert.equal(report.task.task, 'image-feature-extraction');
  assert.match(report.evaluatedOn.measure, /20-NN classifier/);
  assert.equal(report.fp.top1, float.top1, 'quantize measures float k-NN top-1 as eval does');
  const cosine = report.exported.toFloat!.cosine!;
  assert.ok(cosine > 0.99 && cosine <= 1, `cosine ${cosine}`);
  assert.equal(report.exported.toFloat!.kl, undefined);
  assert.match(
    report.verdict.text,
    /^W8A8 baseline model\.onnx: k-NN top-1 [\d.]+ vs float [\d.]+ \(.*\); cosine to float 0\.99/,
  );
  assert.deepEqual(report.warnings, []);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, /cosine to float embeddings/);

  const files = limitPerClass(listImageFolder(TEST), 10).map((i) => i.file);
  const [onnxruntime, transformersJs] = [
    await embeddings(join(out, 'model.onnx'), out, files),
    await transformersJsEmbeddings(out, files),
  ];
  assertSameRows(onnxruntime, transformersJs, files.length, 'transformers.js vs model.onnx');

  // What only classifiers have is refused by name: the demo page's top classes, landscape's top-1.
  await assert.rejects(
    serveDemo({ out, port: 0 }),
    /model\.onnx: is an image encoder .*the demo page shows a classifier's top classes/,
  );
  await assert.rejects(
    landscape({ model: ENCODER, calib: CALIB, eval: TEST, out: join(tempDir(), 'landscape') }),
    /is an image encoder \(the output is named 'image_embeds'\), and landscape measures top-1 and KL of class logits/,
  );
});

test('the search on an encoder fits infoNCE over the batch and keeps the result by 1 − cosine on the holdout', async () => {
  const out = join(tempDir(), 'encoder-evolq');
  const report = await quantize({
    model: ENCODER,
    calib: CALIB,
    out,
    options: {
      wBits: 4,
      method: 'evolq',
      passes: 1,
      calibSize: 64,
      holdout: 32,
      speed: false,
      floatFallback: false,
    },
  });
  const search = report.search!;
  assert.equal(report.settings.loss, 'infonce');
  assert.equal(report.settings.select, 'cosine');
  assert.equal(search.select, 'cosine');
  const baseline = search.holdout[0];
  assert.equal(baseline.agreement, null);
  assert.ok(baseline.cosine! > 0.9 && Math.abs(baseline.measure - (1 - baseline.cosine!)) < 1e-9);
  const kept = search.holdout.find((h) => h.pass === search.keptPass) ?? baseline;
  assert.ok(kept.measure <= baseline.measure);
  // Without --eval the holdout images are evaluated, unlabeled (labels come only with --eval): cosine, no k-NN.
  assert.equal(report.evaluatedOn.labeled, false);
  assert.equal(report.exported.top1, null);
  assert.match(
    report.verdict.text,
    /^W4A8 Evol-Q model\.onnx: mean cosine similarity to float's embeddings 0\.9\d+ on 32 unlabeled images/,
  );
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(config.quantization_config.loss, 'infonce');
  assert.equal(config.quantization_config.select, 'cosine');
  await assert.rejects(
    quantize({ model: ENCODER, calib: CALIB, out: join(tempDir(), 'kl'), options: { method: 'evolq', select: 'kl' } }),
    /^ConfigError: options\.select kl compares the softmax of class logits, and the model is an image encoder/,
  );
  const one = join(tempDir(), 'one');
  await assert.rejects(
    quantize({ model: ENCODER, calib: CALIB, eval: TEST, out: one, options: { evalLimit: 1 } }),
    /^ConfigError: --eval .*: k-NN top-1 needs at least 2 labelled images \(each is voted by the others\), and 1 would be evaluated$/,
  );
  assert.equal(existsSync(one), false);
});

test('a bare encoder export (output "output", no configs) is taken for a classifier until --task image-feature-extraction, then loads in transformers.js', async () => {
  const dir = join(tempDir(), 'bare-encoder');
  mkdirSync(dir);
  const bare = join(dir, 'model.onnx');
  const renames: [string, string][] = [
    ['pixel_values', 'input'],
    ['image_embeds', 'output'],
  ];
  writeFileSync(bare, renameGraphValues(readFileSync(join(ENCODER, 'model.onnx')), renames));
  const mean = [0.4914, 0.4822, 0.4465];
  const std = [0.247, 0.2435, 0.2616];
  assert.equal(loadModel(bare, { mean, std }).task.task, 'image-classification');
  const out = join(tempDir(), 'bare-encoder-w8');
  const report = await quantize({
    model: bare,
    calib: join(CALIB, 'cat'),
    out,
    modelOptions: { mean, std, task: 'image-feature-extraction' },
    options: { calibSize: 64, holdout: 16, speed: false, floatFallback: false },
  });
  assert.deepEqual(report.task, { task: 'image-feature-extraction', reason: '--task' });
  assert.equal(report.evaluatedOn.labeled, false);
  assert.match(report.verdict.text, /mean cosine similarity to float's embeddings 0\.99\d+ on 16 unlabeled images/);
  const added = report.exported.transformersJs.added ?? [];
  assert.ok(
    added.some((a) => /model_type 'vit' \(transformers\.js's generic image model/.test(a)),
    added.join('; '),
  );
  assert.ok(
    added.some((a) => /output 'output' is named 'image_embeds'/.test(a)),
    added.join('; '),
  );
  const files = limitPerClass(listImageFolder(TEST), 2).map((i) => i.file);
  const onnxruntime = await embeddings(join(out, 'model.onnx'), out, files);
  assertSameRows(onnxruntime, await transformersJsEmbeddings(out, files), files.length, 'bare export');
});

test('token features ([batch, tokens, width], last_hidden_state) are compared as their mean over the tokens, and transformers.js returns them whole', async () => {
  const tokens = join(tempDir(), 'vit-cifar10-tokens');
  writeEncoderFolder(DEFAULT_MODEL, tokens, true);
  assert.deepEqual(loadModel(tokens).task, {
    task: 'image-feature-extraction',
    reason: "the output is named 'last_hidden_state'",
  });
  const out = join(tempDir(), 'tokens-w8a8');
  const report = await quantize({
    model: tokens,
    calib: CALIB,
    eval: TEST,
    out,
    options: { calibSize: 64, holdout: 16, evalLimit: 100, speed: false, floatFallback: false },
  });
  // 100 images, 10 a class: an image's 20 neighbours hold at most 9 classmates; still well above chance (10%).
  assert.ok(report.fp.top1! > 0.2, `float k-NN top-1 on pooled tokens ${report.fp.top1}`);
  assert.ok(report.exported.toFloat!.cosine! > 0.99);
  const files = limitPerClass(listImageFolder(TEST), 1).map((i) => i.file);
  const onnxruntime = await embeddings(join(out, 'model.onnx'), out, files);
  const tokenCount = onnxruntime.length / files.length / width;
  assert.ok(Number.isInteger(tokenCount) && tokenCount > 1, `${tokenCount} tokens`);
  const extracted = await transformersJsEmbeddings(out, files, [1, tokenCount, width]);
  assertSameRows(onnxruntime, extracted, files.length, 'last_hidden_state');
});
