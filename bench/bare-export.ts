// `node dist/bench/bare-export.js MODEL_DIR [IMAGES]`: a model folder turned into a bare export as torchvision writes
// one (input 'input', output 'output', no config.json or preprocessor_config.json), quantized at W8A8 with ImageNet's
// mean and std, then loaded in transformers.js's image-classification pipeline from the configs evolq wrote: prints
// what evolq added, how far transformers.js's pixel values are from evolq's, and on how many images transformers.js's
// top-1 is onnxruntime-node's on model.onnx (20 images of IMAGES, an ImageFolder; default the bundled test images).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AutoProcessor, RawImage, pipeline, env } from '@huggingface/transformers';
import { renameGraphValues } from '../src/export/model-folder.js';
import { quantize } from '../src/pipeline/quantize.js';
import { loadModel } from '../src/model.js';
import { listImageFolder, limitPerClass, decodeImages } from '../src/data/imagefolder.js';
import { defaultRunner } from '../src/runtime/runner.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const [source, images = join(ROOT, 'assets/cifar10/test')] = process.argv.slice(2);
if (!source) throw new Error('usage: node dist/bench/bare-export.js MODEL_DIR [IMAGES]');
const mean = [0.485, 0.456, 0.406];
const std = [0.229, 0.224, 0.225];
const work = mkdtempSync(join(tmpdir(), 'evolq-bare-'));
const bare = join(work, 'bare', 'model.onnx');
mkdirSync(dirname(bare));
const renames: [string, string][] = [
  ['pixel_values', 'input'],
  ['logits', 'output'],
];
writeFileSync(bare, renameGraphValues(readFileSync(join(source, 'model.onnx')), renames));
const out = join(work, 'out');
const report = await quantize({
  model: bare,
  calib: join(ROOT, 'assets/cifar10/calib'),
  out,
  modelOptions: { mean, std },
  options: { floatFallback: false, speed: false, calibSize: 32, holdout: 8 },
});
console.log(`${basename(source)}: evolq added\n  ${(report.exported.transformersJs.added ?? []).join('\n  ')}`);

const model = loadModel(bare, { mean, std });
const items = limitPerClass(listImageFolder(images), 20);
const decoded = await decodeImages(items, model.preprocessing);
env.allowRemoteModels = false;
env.localModelPath = work;
const processor = await AutoProcessor.from_pretrained('out');
const { pixel_values } = await processor(await RawImage.read(items[0].file));
const first = decoded.data.subarray(0, pixel_values.data.length);
const pixelGap = first.reduce((m, v, i) => Math.max(m, Math.abs(v - (pixel_values.data as Float32Array)[i])), 0);
console.log(`pixel values of ${items[0].file}: largest difference ${pixelGap.toExponential(2)}`);

const session = await defaultRunner.createSession(join(out, 'model.onnx'));
const per = decoded.data.length / items.length;
const classify = await pipeline('image-classification', 'out');
let agree = 0;
for (const [i, item] of items.entries()) {
  const image = { data: decoded.data.subarray(i * per, (i + 1) * per), dims: [1, ...decoded.dims.slice(1)] };
  const row = Array.from((await session.run({ input: image }, ['output'])).output.data);
  const label = ((await classify(item.file, { top_k: 1 })) as { label: string }[])[0].label;
  if (label === `LABEL_${row.indexOf(Math.max(...row))}`) agree++;
}
console.log(`top-1 of transformers.js and of onnxruntime-node on model.onnx agree on ${agree}/${items.length} images`);
await classify.dispose();
await session.release();
