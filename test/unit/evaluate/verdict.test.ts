import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairedDifference, verdictOf } from '../../../src/evaluate/verdict.js';
import type { Accuracy } from '../../../src/evaluate/metrics.js';
import { Rng } from '../../../src/rng.js';

const hits = (n: number, p: number, rng: Rng) => Uint8Array.from({ length: n }, () => (rng.next() < p ? 1 : 0));

test('the paired difference: its mean, an interval that holds it, 0 for the same model, deterministic for a seed', () => {
  const rng = new Rng(3);
  const a = hits(2000, 0.6, rng);
  const same = pairedDifference(a, a, 1);
  assert.deepEqual([same.points, same.low, same.high, same.significant], [0, 0, 0, false]);
  const all = pairedDifference(new Uint8Array(50).fill(1), new Uint8Array(50), 1);
  assert.deepEqual([all.points, all.low, all.high, all.significant], [100, 100, 100, true]);
  // Two models that differ on 10% of 2,000 images at random, as often each way: the difference's standard error is
  // sqrt(0.1 / 2000) = 0.71 points, so the interval is about ±1.39 points around the mean.
  const b = Uint8Array.from(a, (v) => (rng.next() < 0.1 ? 1 - v : v));
  const d = pairedDifference(b, a, 5);
  assert.ok(d.low < d.points && d.points < d.high);
  assert.ok(Math.abs((d.high - d.low) / 2 - 1.39) < 0.2, `half-width ${(d.high - d.low) / 2}`);
  assert.deepEqual(pairedDifference(b, a, 5), d);
  assert.notDeepEqual(pairedDifference(b, a, 6), d);
});

test('the verdict names model.onnx, float and the baseline, and says when a difference is inside the noise', () => {
  const rng = new Rng(4);
  const floatHits = hits(1000, 0.7, rng);
  const accuracy = (correct: Uint8Array, kl?: number): Accuracy => ({
    top1: correct.reduce((s, v) => s + v, 0) / correct.length,
    top5: 1,
    n: correct.length,
    correct,
    ...(kl === undefined ? {} : { toReference: { kl, agreement: 0.95 } }),
  });
  const worse = Uint8Array.from(floatHits, (v, i) => (i % 10 === 0 ? 0 : v));
  const v = verdictOf({
    name: 'W4A8 Evol-Q model.onnx',
    fp: accuracy(floatHits),
    baseline: accuracy(floatHits, 0.004),
    exported: accuracy(worse, 0.002),
    searched: true,
    sizeRatio: 0.17,
    speedup: 1.9,
    seed: 0,
  })!;
  assert.ok(v.vsFloat!.significant && v.vsFloat!.points < 0, 'losing one image in ten is outside the noise');
  assert.match(
    v.text,
    /^W4A8 Evol-Q model\.onnx: top-1 \d+\.\d\d vs float \d+\.\d\d \(−\d+\.\d\d \[−\d+\.\d\d, −\d+\.\d\d\], 95% paired bootstrap over 1000 images\), vs baseline −.*; KL to float 0\.0020 \(baseline 0\.0040\); 17% of the size; 1\.90× float's speed at batch 1$/,
  );
  const tie = verdictOf({
    name: 'W8A8 baseline model.onnx',
    fp: accuracy(floatHits),
    baseline: accuracy(floatHits, 0.001),
    exported: accuracy(floatHits, 0.001),
    searched: false,
    sizeRatio: 0.3,
    seed: 0,
  })!;
  assert.match(tie.text, /\(\+0\.00 \[\+0\.00, \+0\.00\], not significant, 95%/);
  assert.equal(tie.vsBaseline, undefined);
});
