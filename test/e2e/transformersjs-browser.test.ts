// The output folder in transformers.js's web build, in Chromium: pipeline() loads it as it is (the dtype from its
// config.json) and gives the labels onnxruntime-node gives. Its onnxruntime-web is a reduced-type build (no uint4
// Cast), so each format meant for it is loaded here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { quantize } from '../../src/pipeline/quantize.js';
import { loadModel } from '../../src/model.js';
import { listImageFolder, limitPerClass, decodeImages } from '../../src/data/imagefolder.js';
import { defaultRunner } from '../../src/runtime/runner.js';
import { ASSETS, DEFAULT_MODEL, ROOT, tempDir } from '../helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.jpg': 'image/jpeg',
};

/** transformers.js's web build and the onnxruntime-web it resolves to. */
function packageDirs() {
  const transformers = dirname(createRequire(import.meta.url).resolve('@huggingface/transformers'));
  const ort = dirname(createRequire(join(transformers, 'transformers.node.cjs')).resolve('onnxruntime-web'));
  return { transformers, ort };
}

test('the output folder loads in transformers.js in Chromium and agrees with onnxruntime-node (W8A8, W4A8 per-channel and qdq)', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`);
  const dirs = packageDirs();
  const models = tempDir();
  const model = loadModel(DEFAULT_MODEL);
  const items = limitPerClass(listImageFolder(join(ASSETS, 'cifar10/test'), model.labels), 20);
  const roots: Record<string, string> = {
    '/tjs/': dirs.transformers,
    '/ort/': dirs.ort,
    '/models/': models,
    '/images/': join(ASSETS, 'cifar10/test'),
    '/': join(ROOT, 'test/e2e/transformersjs-page'),
  };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path === '/images.json') {
      res
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify(items.map((i) => `/images/${basename(dirname(i.file))}/${basename(i.file)}`)));
      return;
    }
    const prefix = Object.keys(roots).find((p) => path.startsWith(p))!;
    const file = join(roots[prefix], normalize(path.slice(prefix.length) || 'index.html'));
    if (!file.startsWith(roots[prefix]) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  try {
    const images = await decodeImages(items, model.preprocessing);
    for (const [wBits, exportFormat] of [
      [8, 'per-channel'],
      [4, 'per-channel'],
      [4, 'qdq'],
    ] as const) {
      const id = `vit-w${wBits}-${exportFormat}`;
      await quantize({
        model: DEFAULT_MODEL,
        calib: join(ASSETS, 'cifar10/calib'),
        out: join(models, id),
        options: { floatFallback: false, wBits, exportFormat, calibSize: 200, holdout: 50 },
      });
      const session = await defaultRunner.createSession(join(models, id, 'model.onnx'));
      const logits = (
        await session.run({ [model.inputName]: { data: images.data, dims: images.dims } }, [model.outputName])
      )[model.outputName].data;
      await session.release();
      const expected = items.map((_, i) => {
        const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
        return model.labels![row.indexOf(Math.max(...row))];
      });
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(`${url}/?model=${id}`);
      await page.waitForFunction(() => (window as unknown as { result?: unknown }).result, null, { timeout: 120_000 });
      const result = await page.evaluate(
        () => (window as unknown as { result: { labels?: string[]; error?: string } }).result,
      );
      await page.close();
      assert.equal(result.error, undefined, `W${wBits} ${exportFormat}: the page failed: ${result.error}`);
      assert.deepEqual(
        result.labels,
        expected,
        `W${wBits}A8 ${exportFormat}: transformers.js in Chromium vs onnxruntime-node`,
      );
      assert.ok(
        requests.some((r) => r.includes(`/models/${id}/onnx/model_${wBits === 8 ? 'quantized' : 'q4'}.onnx`)),
        `the dtype's file was loaded: ${requests.filter((r) => r.includes('/models/'))}`,
      );
      assert.deepEqual(
        requests.filter((r) => !r.startsWith(url)),
        [],
        'the page fetched only from the test server',
      );
    }
  } finally {
    await browser.close();
    await new Promise<void>((ok) => server.close(() => ok()));
  }
});
