// The demo page: loads the quantized model.onnx with onnxruntime-web (wasm), classifies the images the
// server lists, and shows each label and time. Results also land in `window.evolq` for tests.
// @ts-expect-error: served by evolq's demo server from onnxruntime-web's dist folder
import * as ort from '/ort/ort.wasm.min.mjs';

interface Preprocessor {
  size: { height: number; width: number };
  mean: number[];
  std: number[];
  rescale: number;
}
/** `model` is the model folder's name and each image's `file` its path in the images folder (`class/image.png`): the server shows no local paths. */
interface Listing {
  model: string;
  labels: string[];
  preprocessor: Preprocessor;
  inputName: string;
  images: { url: string; file: string; label: number }[];
}
interface Result {
  file: string;
  label: number;
  predicted: number;
  logits: number[];
  ms: number;
}

const status = document.getElementById('status')!;
const results = document.getElementById('results')!;

/** Decodes an image into C×H×W floats, rescaled and normalized as the model's preprocessor_config.json says. */
async function pixels(url: string, p: Preprocessor, canvas: HTMLCanvasElement): Promise<Float32Array> {
  const blob = await (await fetch(url)).blob();
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const { width, height } = p.size;
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, width, height);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = (rgba[4 * i + c] * p.rescale - p.mean[c]) / p.std[c];
  }
  return out;
}

async function main(): Promise<void> {
  const listing: Listing = await (await fetch('/listing.json')).json();
  status.textContent = `loading ${listing.model}…`;
  const started = performance.now();
  const session = await ort.InferenceSession.create('/model.onnx', { executionProviders: ['wasm'] });
  status.textContent = `loaded ${listing.model} in ${(performance.now() - started).toFixed(0)} ms; classifying ${listing.images.length} images…`;
  const { height, width } = listing.preprocessor.size;
  const out: Result[] = [];
  for (const image of listing.images) {
    const figure = document.createElement('figure');
    const canvas = document.createElement('canvas');
    const input = await pixels(image.url, listing.preprocessor, canvas);
    const t0 = performance.now();
    const output = await session.run({ [listing.inputName]: new ort.Tensor('float32', input, [1, 3, height, width]) });
    const ms = performance.now() - t0;
    const logits = Array.from(output[session.outputNames[0]].data as Float32Array);
    const predicted = logits.indexOf(Math.max(...logits));
    out.push({ file: image.file, label: image.label, predicted, logits, ms });
    const caption = document.createElement('figcaption');
    const wrong = predicted !== image.label ? ' wrong' : '';
    caption.innerHTML = `<div class="label${wrong}"></div><div class="truth"></div><div class="time"></div>`;
    caption.querySelector('.label')!.textContent = listing.labels[predicted] ?? String(predicted);
    caption.querySelector('.truth')!.textContent = `true: ${listing.labels[image.label] ?? image.label}`;
    caption.querySelector('.time')!.textContent = `${ms.toFixed(1)} ms`;
    figure.title = image.file;
    figure.append(canvas, caption);
    results.append(figure);
  }
  const correct = out.filter((r) => r.predicted === r.label).length;
  // The first run includes onnxruntime's warm-up; the median of the rest is the steady-state time.
  const rest = out
    .slice(1)
    .map((r) => r.ms)
    .sort((a, b) => a - b);
  const median = rest.length ? rest[Math.floor(rest.length / 2)] : (out[0]?.ms ?? 0);
  status.textContent = `${listing.model}: ${correct}/${out.length} correct; ${median.toFixed(1)} ms per image (median; first ${out[0]?.ms.toFixed(0) ?? '-'} ms) with onnxruntime-web ${ort.env.versions.web} (wasm)`;
  (window as unknown as { evolq: unknown }).evolq = { done: true, results: out };
}

main().catch((err: Error) => {
  status.textContent = `error: ${err.message}`;
  (window as unknown as { evolq: unknown }).evolq = { done: true, error: err.message };
});
