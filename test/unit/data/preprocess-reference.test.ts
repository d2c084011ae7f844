// evolq's preprocessing against transformers' PIL + numpy steps, on the fixtures that
// test/fixtures/make-preprocess-reference.py wrote (20 images, one config per processor form; no Python here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImageInto } from '../../../src/data/preprocess.js';
import { parsePreprocessorConfig, type Preprocessing } from '../../../src/data/preprocessor-config.js';
import { ROOT } from '../../helpers.js';

const DIR = join(ROOT, 'test/fixtures/preprocess');

interface ConfigEntry {
  shape: [number, number, number];
  tableBytes: number;
  pixelBytes: number;
  /** Set where only every `stride`-th row and column from `start` is stored (the 384-px config). */
  grid?: { start: number; stride: number };
  /** Each image's per-channel mean over the whole reference tensor, where only a grid is stored. */
  means?: number[][];
}
const index = JSON.parse(readFileSync(join(DIR, 'index.json'), 'utf8')) as {
  class: string;
  images: string[];
  configs: Record<string, ConfigEntry>;
};

/**
 * evolq ports PIL's resampling and transformers' crop and float32 normalization, so the measured difference is 0
 * on every config. The bounds leave room for one uint8 level (1/255/0.224 = 0.0175 at the smallest std here) on
 * up to 0.1% of values, for a platform whose sin/cos (lanczos, hamming weights) or JPEG decoder rounds one
 * fixed-point sum the other way. A one-pixel crop shift, a swapped channel or a wrong mean moves most values by
 * several levels (the last test checks that these fail).
 */
const MAX_ABS = 0.018;
const MEAN_ABS = 2e-5;

interface Difference {
  maxAbs: number;
  meanAbs: number;
  worstImage: string;
  meanOfMeans: number;
}

function referenceOf(name: string) {
  const entry = index.configs[name];
  const bin = readFileSync(join(DIR, 'reference', `${name}.bin`));
  const table = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + entry.tableBytes));
  const pixels = (i: number) =>
    bin.subarray(entry.tableBytes + i * entry.pixelBytes, entry.tableBytes + (i + 1) * entry.pixelBytes);
  return { entry, table, pixels };
}

function preprocessingOf(name: string): Preprocessing {
  const file = join(DIR, 'configs', `${name}.json`);
  return parsePreprocessorConfig(JSON.parse(readFileSync(file, 'utf8')), file, [-1, -1, -1]);
}

async function decodeAll(prep: Preprocessing): Promise<Float32Array[]> {
  return Promise.all(
    index.images.map(async (image) => {
      const out = new Float32Array(prep.channels * prep.height * prep.width);
      await decodeImageInto(join(DIR, 'images', index.class, image), prep, out, 0);
      return out;
    }),
  );
}

/** Differences between evolq's C×H×W tensors (one per image) and the reference's. */
function compare(name: string, tensors: Float32Array[]): Difference {
  const { entry, table, pixels } = referenceOf(name);
  const [C, H, W] = entry.shape;
  const { start, stride } = entry.grid ?? { start: 0, stride: 1 };
  const rows = Math.ceil((H - start) / stride);
  const cols = Math.ceil((W - start) / stride);
  let maxAbs = 0;
  let sum = 0;
  let count = 0;
  let meanOfMeans = 0;
  let worstImage = '';
  tensors.forEach((tensor, i) => {
    assert.equal(tensor.length, C * H * W, `${name}: ${index.images[i]}: tensor length`);
    const reference = pixels(i);
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < rows; y++) {
        for (let x = 0; x < cols; x++) {
          const got = tensor[(c * H + start + y * stride) * W + start + x * stride];
          const d = Math.abs(got - table[c * 256 + reference[(c * rows + y) * cols + x]]);
          if (!(d <= maxAbs)) [maxAbs, worstImage] = [d, index.images[i]];
          sum += d;
          count++;
        }
      }
      if (entry.means) {
        let mean = 0;
        for (let j = c * H * W; j < (c + 1) * H * W; j++) mean += tensor[j];
        meanOfMeans = Math.max(meanOfMeans, Math.abs(mean / (H * W) - entry.means[i][c]));
      }
    }
  });
  return { maxAbs, meanAbs: sum / count, worstImage, meanOfMeans };
}

const format = (d: Difference) =>
  `max |Δ| ${d.maxAbs.toExponential(2)} (${d.worstImage || 'none'}), mean |Δ| ${d.meanAbs.toExponential(2)}, channel means |Δ| ${d.meanOfMeans.toExponential(2)}`;

for (const name of Object.keys(index.configs)) {
  test(`${name}: evolq's tensors equal PIL + numpy's on all 20 images`, async (t) => {
    const prep = preprocessingOf(name);
    assert.deepEqual([prep.channels, prep.height, prep.width], index.configs[name].shape);
    const difference = compare(name, await decodeAll(prep));
    t.diagnostic(format(difference));
    assert.ok(
      difference.maxAbs <= MAX_ABS && difference.meanAbs <= MEAN_ABS && difference.meanOfMeans <= MEAN_ABS,
      `${name}: ${format(difference)}`,
    );
  });
}

test('the tolerance tells a one-pixel crop shift, swapped channels and a wrong mean from a match', async () => {
  const prep = preprocessingOf('deit');
  const [C, H, W] = [prep.channels, prep.height, prep.width];
  // Cropping one column wider then dropping its first column is a crop offset one pixel to the right.
  const wide = await decodeAll({ ...prep, crop: { height: H, width: W + 1 }, width: W + 1 });
  const shifted = wide.map((t) =>
    Float32Array.from({ length: C * H * W }, (_, j) => t[Math.floor(j / W) * (W + 1) + (j % W) + 1]),
  );
  const matching = await decodeAll(prep);
  const swapped = matching.map((t) =>
    Float32Array.from({ length: C * H * W }, (_, j) => t[(C - 1 - Math.floor(j / (H * W))) * H * W + (j % (H * W))]),
  );
  const wrongMean = await decodeAll({ ...prep, mean: [0.5, 0.5, 0.5] });
  for (const [what, tensors] of [
    ['crop shift', shifted],
    ['swapped channels', swapped],
    ['wrong mean', wrongMean],
  ] as const) {
    const difference = compare('deit', tensors);
    assert.ok(difference.maxAbs > MAX_ABS && difference.meanAbs > MEAN_ABS, `${what} passed: ${format(difference)}`);
  }
});
