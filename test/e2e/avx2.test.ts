import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { quantize } from '../../src/pipeline/quantize.js';
import { loadModel } from '../../src/model.js';
import { decodeImages, limitPerClass, listImageFolder } from '../../src/data/imagefolder.js';
import { ASSETS, FIXTURES, ROOT, runModel, tempDir } from '../helpers.js';
import { matches, worstCaseLayer } from '../worst-case.js';

// qemu's user-mode emulator with an AMD EPYC Rome CPU (AVX2, no AVX-512, no VNNI) runs onnxruntime-node's AVX2
// kernels on any x86 machine: .ci/run installs it (Debian's qemu-user).
const QEMU = 'qemu-x86_64';
const hasQemu = spawnSync(QEMU, ['--version']).status === 0;

interface ChildResult {
  worstCase: { reduced: number[]; full: number[] };
  products: { uint8: number; int8: number };
  outputs: number[][];
}

function onAvx2(args: string[]): ChildResult {
  const stdout = execFileSync(
    QEMU,
    ['-cpu', 'EPYC-Rome', process.execPath, join(ROOT, 'dist/test/avx2-child.js'), ...args],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 300_000, maxBuffer: 64 << 20 },
  );
  return JSON.parse(stdout) as ChildResult;
}

test(
  'on an AVX2-only CPU (emulated): worst-case operands and model.onnx compute what they compute with VNNI; full-range 8-bit weights would not',
  { skip: hasQemu ? false : `${QEMU} is not installed (Debian: apt-get install qemu-user; .ci/run does)` },
  async () => {
    const model = join(FIXTURES, 'vit-cifar10-tiny');
    const outs: string[] = [];
    for (const reduceRange of [true, false]) {
      const out = join(tempDir(), reduceRange ? 'reduced' : 'full');
      await quantize({
        model,
        calib: join(ASSETS, 'cifar10/calib'),
        eval: join(ASSETS, 'cifar10/test'),
        out,
        options: { floatFallback: false, reduceRange, calibSize: 100, holdout: 10, evalLimit: 50, speed: false },
      });
      outs.push(join(out, 'model.onnx'));
    }
    const loaded = loadModel(model);
    const folder = listImageFolder(join(ASSETS, 'cifar10/test'), loaded.labels);
    const images = await decodeImages(limitPerClass(folder, 5), loaded.preprocessing);
    const feedFile = join(tempDir(), 'feed.json');
    writeFileSync(
      feedFile,
      JSON.stringify({ name: loaded.inputName, dims: images.dims, data: Array.from(images.data) }),
    );

    const avx2 = onAvx2([feedFile, ...outs]);

    const reduced = await worstCaseLayer(true);
    const full = await worstCaseLayer(false);
    assert.ok(
      matches(avx2.worstCase.reduced, reduced.exact),
      `7-bit levels: ${avx2.worstCase.reduced} vs ${reduced.exact}`,
    );
    assert.ok(
      matches(avx2.worstCase.full, full.avx2),
      `full range follows the saturating model: ${avx2.worstCase.full}`,
    );
    assert.ok(!matches(avx2.worstCase.full, full.exact), 'and is not exact: the emulated CPU has no VNNI');
    assert.equal(avx2.products.uint8, 255 * 255 * 768, 'uint8 × uint8 (attention) is exact');
    assert.notEqual(avx2.products.int8, 255 * 127 * 768, 'uint8 × int8 of activations would saturate');

    // 32 px images, 50 of them: the 7-bit export computes the same logits bit for bit on both CPUs; the full-range one
    // moves them (and its labels) where pairs saturate.
    const classes = 10;
    const differences = [];
    for (const [i, file] of outs.entries()) {
      const feeds = { [loaded.inputName]: { data: images.data, dims: images.dims } };
      const here = (await runModel(readFileSync(file), feeds))[loaded.outputName].data;
      let maxDiff = 0;
      for (let j = 0; j < images.dims[0] * classes; j++)
        maxDiff = Math.max(maxDiff, Math.abs(here[j] - avx2.outputs[i][j]));
      differences.push(maxDiff);
    }
    assert.ok(differences[0] <= 1e-4, `7-bit levels: logits differ by ${differences[0]} between AVX2 and this CPU`);
    assert.ok(differences[1] > 1e-3, `full range: logits differ by ${differences[1]}`);
  },
);
