import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { quantize } from '../../src/pipeline/quantize.js';
import { serveDemo } from '../../src/web/serve.js';
import { loadModel } from '../../src/model.js';
import { decodeImages } from '../../src/data/imagefolder.js';
import { defaultRunner } from '../../src/runtime/runner.js';
import { ASSETS, DEFAULT_MODEL, tempDir } from '../helpers.js';

const CHROMIUM = '/usr/bin/chromium';
// Without the background-networking flags Chromium tries to reach Google at start; this machine has no network.
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

interface PageResult {
  file: string;
  label: number;
  predicted: number;
  logits: number[];
  ms: number;
}

test('the exported model classifies the bundled images in Chromium (onnxruntime-web, wasm) as onnxruntime-node does', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  try {
    // 2-bit weights (four to a byte) too: their unpacking is in the web build's reduced types as the nibbles' is.
    for (const wBits of [8, 4, 2] as const) {
      const out = join(tempDir(), `vit-w${wBits}a8`);
      await quantize({
        model: DEFAULT_MODEL,
        calib: join(ASSETS, 'cifar10/calib'),
        out,
        options: { floatFallback: false, wBits, calibSize: 200, holdout: 50 },
      });
      const server = await serveDemo({ out, count: 20 });
      try {
        const page = await browser.newPage();
        const requests: string[] = [];
        page.on('request', (r) => requests.push(r.url()));
        await page.goto(server.url);
        await page.waitForFunction(() => (window as unknown as { evolq?: { done: boolean } }).evolq?.done, null, {
          timeout: 120_000,
        });
        const state = await page.evaluate(
          () => (window as unknown as { evolq: { error?: string; results: PageResult[] } }).evolq,
        );
        assert.equal(state.error, undefined, `the page failed: ${state.error}`);
        const status = await page.textContent('#status');
        assert.match(status ?? '', /\d+\/20 correct; [\d.]+ ms per image/);
        assert.equal(await page.locator('figure').count(), 20, 'one figure per image');
        assert.deepEqual(
          requests.filter((u) => !u.startsWith(server.url)),
          [],
          'the page fetched only from the demo server',
        );
        await page.close();

        // The same images through onnxruntime-node.
        const model = loadModel(out);
        const items = server.images.map((i) => ({ file: i.file, label: i.label }));
        const images = await decodeImages(items, model.preprocessing);
        const session = await defaultRunner.createSession(model.file);
        const logits = (await session.run({ [model.inputName]: { data: images.data, dims: images.dims } }))[
          model.outputName
        ];
        await session.release();
        const classes = logits.dims[1];
        let maxDiff = 0;
        const nodePredicted = items.map((_, i) => {
          const row = Array.from(logits.data.subarray(i * classes, (i + 1) * classes));
          row.forEach((v, c) => (maxDiff = Math.max(maxDiff, Math.abs(v - state.results[i].logits[c]))));
          return row.indexOf(Math.max(...row));
        });
        assert.deepEqual(
          state.results.map((r) => r.file),
          server.images.map((i) => i.name),
          'the page names each image by its path in the images folder',
        );
        assert.deepEqual(
          state.results.map((r) => r.predicted),
          nodePredicted,
          `W${wBits}A8: browser vs node predictions (max logit difference ${maxDiff})`,
        );
        assert.ok(maxDiff < 0.05, `W${wBits}A8: logits differ by ${maxDiff} between wasm and native`);
      } finally {
        await server.close();
      }
    }
  } finally {
    await browser.close();
  }
});
