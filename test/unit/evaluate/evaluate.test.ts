import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateAccuracy, type EvaluationTarget } from '../../../src/evaluate/evaluate.js';
import { decodedSource } from '../../../src/data/source.js';
import type { Session, FloatTensor } from '../../../src/runtime/runner.js';
import type { Accuracy } from '../../../src/evaluate/metrics.js';

/** A model that scores class (first pixel + shift) mod 3 highest, and records the batch of each run. */
function fakeSession(shift: number, runs: number[]): Session {
  return {
    inputNames: ['x'],
    outputNames: ['y'],
    async run(feeds: Record<string, FloatTensor>) {
      const x = feeds.x;
      const n = x.dims[0];
      runs.push(n);
      const per = x.data.length / n;
      const logits = new Float32Array(n * 3);
      for (let i = 0; i < n; i++) logits[i * 3 + ((x.data[i * per] + shift) % 3)] = 1;
      return { y: { data: logits, dims: [n, 3] } };
    },
    async release() {},
  };
}

test('evaluation: targets run each batch in runs of batch / targets images, and count every image once', async () => {
  const n = 23;
  const images = {
    data: Float32Array.from({ length: n * 2 }, (_, i) => Math.floor(i / 2) % 3),
    dims: [n, 2, 1, 1] as [number, number, number, number],
    labels: Int32Array.from({ length: n }, (_, i) => i % 3),
  };
  const runs = [[], [], [], []] as number[][];
  const targets: EvaluationTarget[] = runs.map((r, t) => ({
    session: fakeSession(t === 0 ? 0 : 1, r),
    inputName: 'x',
    outputName: 'y',
  }));
  const [right, ...wrong] = await evaluateAccuracy(targets, decodedSource(images), 10);
  const counts = ({ top1, top5, n }: Accuracy) => ({ top1, top5, n });
  assert.deepEqual(counts(right), { top1: 1, top5: 1, n });
  assert.deepEqual(right.correct, new Uint8Array(n).fill(1), 'each image counted once, in order');
  for (const w of wrong) assert.deepEqual([counts(w), w.correct], [{ top1: 0, top5: 1, n }, new Uint8Array(n)]);
  // Batches of 10, 10 and 3, each in runs of at most ceil(10 / 4) = 3 images.
  for (const r of runs) assert.deepEqual(r, [3, 3, 3, 1, 3, 3, 3, 1, 3]);
  const [alone] = await evaluateAccuracy([targets[0]], decodedSource(images), 10);
  assert.deepEqual(alone, right);
});

test('evaluation: against a reference target, every other one gets its KL from the reference and its top-1 agreement', async () => {
  const n = 23;
  const images = {
    data: Float32Array.from({ length: n * 2 }, (_, i) => Math.floor(i / 2) % 3),
    dims: [n, 2, 1, 1] as [number, number, number, number],
    labels: Int32Array.from({ length: n }, (_, i) => i % 3),
  };
  const shifts = [1, 0, 0, 2];
  const targets: EvaluationTarget[] = shifts.map((shift) => ({
    session: fakeSession(shift, []),
    inputName: 'x',
    outputName: 'y',
  }));
  // The reference is the second target: it runs first within each batch, whatever its place.
  const results = await evaluateAccuracy(targets, decodedSource(images), 10, { reference: 1 });
  assert.equal(results[1].toReference, undefined);
  assert.deepEqual(results[2].toReference, { kl: 0, agreement: 1 });
  // One-hot logits moved to another class: KL = (p1 − p2) · ln(p1 / p2) with p1 = e / (e + 2), p2 = 1 / (e + 2).
  const expected = (Math.E - 1) / (Math.E + 2);
  for (const t of [0, 3]) {
    assert.equal(results[t].toReference!.agreement, 0);
    assert.ok(Math.abs(results[t].toReference!.kl! - expected) < 1e-9, `${results[t].toReference!.kl} vs ${expected}`);
  }
  assert.deepEqual(
    results.map((r) => r.top1),
    [0, 1, 1, 0],
  );
});
