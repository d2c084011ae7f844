// Loads /models/<id> with transformers.js's pipeline() (no dtype: the folder's config.json names it) and classifies
// the listed images; the result goes to window.result for the test to read.
import { pipeline, env } from '/tjs/transformers.web.js';

const params = new URLSearchParams(location.search);
try {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = '/models/';
  env.backends.onnx.wasm.wasmPaths = '/ort/';
  env.backends.onnx.wasm.numThreads = 1;
  const classify = await pipeline('image-classification', params.get('model'), { device: 'wasm' });
  const images = await (await fetch('/images.json')).json();
  const labels = [];
  for (const url of images) labels.push((await classify(url, { top_k: 1 }))[0].label);
  window.result = { labels };
} catch (err) {
  window.result = { error: String(err?.stack ?? err) };
}
