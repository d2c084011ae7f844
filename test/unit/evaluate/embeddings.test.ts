import { test } from 'node:test';
import assert from 'node:assert/strict';
import { knnClassify, pooledRows, rowCosine } from '../../../src/evaluate/embeddings.js';
import { nearestNeighbours } from '../../../src/evaluate/nearest.js';
import { defaultRunner } from '../../../src/runtime/runner.js';
import { evaluateAccuracy, type EvaluationTarget } from '../../../src/evaluate/evaluate.js';
import { decodedSource } from '../../../src/data/source.js';
import type { FloatTensor, Session } from '../../../src/runtime/runner.js';
import { Rng } from '../../../src/rng.js';

test('pooledRows: [batch, width] as it is, [batch, tokens, width] as the mean over the tokens', () => {
  const flat = Float32Array.from([1, 2, 3, 4]);
  assert.equal(pooledRows(flat, [2, 2]).data, flat);
  const tokens = pooledRows(Float32Array.from([1, 2, 3, 4, 10, 20, 30, 40]), [2, 2, 2]);
  assert.deepEqual([tokens.rows, tokens.width, [...tokens.data]], [2, 2, [2, 3, 20, 30]]);
});

test('rowCosine: 1 for the same direction, −1 opposite, 0 for a zero row', () => {
  const a = Float32Array.from([1, 2, 0, 0, 3, 4]);
  const b = Float32Array.from([2, 4, 1, 1, -3, -4]);
  assert.ok(Math.abs(rowCosine(a, b, 0, 2) - 1) < 1e-12);
  assert.equal(rowCosine(a, b, 1, 2), 0);
  assert.ok(Math.abs(rowCosine(a, b, 2, 2) + 1) < 1e-12);
});

/** `perClass` points around each of `classes` directions in `width` dimensions, with noise `spread`. */
function clusters(classes: number, perClass: number, width: number, spread: number, rng: Rng) {
  const rows = classes * perClass;
  const embeddings = new Float32Array(rows * width);
  const labels = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    labels[r] = r % classes;
    for (let c = 0; c < width; c++)
      embeddings[r * width + c] = (c === labels[r] ? 1 : 0) + spread * (rng.next() * 2 - 1);
  }
  return { embeddings, labels, rows };
}

test("nearest neighbours: each row's most cosine-similar others, itself left out, as brute force finds them", async () => {
  const rng = new Rng(5);
  const width = 6;
  const { embeddings, rows } = clusters(3, 40, width, 0.8, rng);
  const row = (r: number) => embeddings.subarray(r * width, (r + 1) * width);
  const cosine = (a: number, b: number) => rowCosine(row(a), row(b), 0, width);
  const found = await nearestNeighbours(defaultRunner, embeddings, rows, width, 7);
  assert.equal(found.count, 7);
  for (let q = 0; q < rows; q++) {
    const best = [...Array(rows).keys()]
      .filter((r) => r !== q)
      .map((r) => cosine(q, r))
      .sort((a, b) => b - a)
      .slice(0, 7);
    const indices = [...found.indices.subarray(q * 7, q * 7 + 7)];
    assert.ok(!indices.includes(q), `row ${q} is its own neighbour`);
    indices.forEach((r, j) => {
      assert.ok(Math.abs(found.similarity[q * 7 + j] - cosine(q, r)) < 1e-5, `row ${q}, neighbour ${r}`);
      assert.ok(Math.abs(found.similarity[q * 7 + j] - best[j]) < 1e-5, `row ${q}: ${j}th nearest`);
    });
  }
  const two = await nearestNeighbours(defaultRunner, Float32Array.from([1, 0, 0, 1]), 2, 2, 20);
  assert.deepEqual([two.count, [...two.indices]], [1, [1, 0]]);
});

test('k-NN: separated clusters are classified perfectly, leave-one-out; noise lowers top-1, not below chance', async () => {
  const rng = new Rng(1);
  const tight = clusters(4, 30, 8, 0.1, rng);
  const exact = await knnClassify(defaultRunner, tight.embeddings, tight.rows, 8, tight.labels);
  assert.deepEqual([exact.top1, exact.top5], [1, 1]);
  assert.deepEqual([...exact.predicted], [...tight.labels]);
  // A lone image of its class (no other image of it to vote) cannot be right, leave-one-out.
  const lone = await knnClassify(
    defaultRunner,
    Float32Array.from([1, 0, 1, 0.1, 0, 1]),
    3,
    2,
    Int32Array.from([0, 0, 1]),
  );
  assert.deepEqual([...lone.correct], [1, 1, 0]);
  await assert.rejects(
    knnClassify(defaultRunner, Float32Array.from([1, 0]), 1, 2, Int32Array.from([0])),
    /^DataError: k-NN top-1 needs at least 2 labelled images \(each is voted by the others\); the evaluation has 1$/,
  );
  const noisy = clusters(4, 30, 8, 1.5, rng);
  const some = await knnClassify(defaultRunner, noisy.embeddings, noisy.rows, 8, noisy.labels);
  assert.ok(some.top1 > 0.25 && some.top1 < 1, `top-1 ${some.top1}`);
  assert.ok(some.top5 >= some.top1);
});

/** A model whose embedding is its input's pixels plus `noise` × a fixed pattern. */
function embeddingSession(noise: number): Session {
  return {
    inputNames: ['x'],
    outputNames: ['y'],
    async run(feeds: Record<string, FloatTensor>) {
      const x = feeds.x;
      const data = Float32Array.from(x.data, (v, i) => v + noise * ((i % 3) - 1));
      return { y: { data, dims: [x.dims[0], x.data.length / x.dims[0]] } };
    },
    async release() {},
  };
}

test('evaluating an encoder: k-NN top-1 per model, cosine and k-NN agreement against the reference', async () => {
  const rng = new Rng(2);
  const { embeddings, labels, rows } = clusters(3, 20, 4, 0.2, rng);
  const images = { data: embeddings, dims: [rows, 4, 1, 1] as [number, number, number, number], labels };
  const targets: EvaluationTarget[] = [0, 0.05].map((noise) => ({
    session: embeddingSession(noise),
    inputName: 'x',
    outputName: 'y',
  }));
  const outputs = { task: 'image-feature-extraction', runner: defaultRunner } as const;
  const [float, quantized] = await evaluateAccuracy(targets, decodedSource(images), 7, { reference: 0, outputs });
  assert.equal(float.top1, (await knnClassify(defaultRunner, embeddings, rows, 4, labels)).top1);
  assert.equal(float.width, 4);
  assert.equal(float.toReference, undefined);
  const cosine = quantized.toReference!.cosine!;
  assert.ok(cosine > 0.95 && cosine < 1, `cosine ${cosine}`);
  assert.equal(quantized.toReference!.kl, undefined);
  assert.ok(quantized.toReference!.agreement! > 0.9);
  const unlabeled = { ...images, labels: new Int32Array(rows).fill(-1) };
  const [alone] = await evaluateAccuracy([targets[1]], decodedSource(unlabeled), 7, { outputs });
  assert.deepEqual([alone.top1, alone.top5, alone.correct], [null, null, undefined]);
});
