import { test } from 'node:test';
import assert from 'node:assert/strict';
import { infonce, mse, kl, cosine } from '../../../src/fitness/losses.js';

test('infoNCE is CE(normalize(q)·normalize(k)ᵀ / T, diagonal) · 2T with in-batch negatives', () => {
  // Three orthonormal rows: matching pairs have similarity 1, others 0.
  const eye = Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
  const T = 3;
  const expected = -Math.log(Math.exp(1 / T) / (Math.exp(1 / T) + 2)) * 2 * T;
  assert.ok(Math.abs(infonce(T)(eye, eye, 3, 3) - expected) < 1e-12);
  // Scaling q does not matter (rows are normalized); swapping rows makes every pair a negative.
  const scaled = eye.map((v) => v * 7);
  assert.ok(Math.abs(infonce(T)(scaled, eye, 3, 3) - expected) < 1e-12);
  const swapped = Float32Array.of(0, 1, 0, 1, 0, 0, 0, 0, 1);
  assert.ok(infonce(T)(swapped, eye, 3, 3) > expected);
});

test('mse, KL and cosine are zero for equal logits and positive otherwise', () => {
  const k = Float32Array.of(1, 2, 3, -1, 0, 4);
  const q = Float32Array.of(1.5, 2, 2, -1, 1, 4);
  for (const loss of [mse, kl, cosine]) {
    assert.ok(Math.abs(loss(k, k, 2, 3)) < 1e-12);
    assert.ok(loss(q, k, 2, 3) > 0);
  }
  assert.equal(mse(q, k, 2, 3), (0.25 + 1 + 1) / 6);
});
