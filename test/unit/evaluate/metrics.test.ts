import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topkHits } from '../../../src/evaluate/metrics.js';

test('top-1 and top-5 count the rank of the true class', () => {
  const logits = Float32Array.of(
    0,
    1,
    2,
    3,
    4,
    5,
    6, // label 6: top-1
    6,
    5,
    4,
    3,
    2,
    1,
    0, // label 4: rank 4, top-5 only
    6,
    5,
    4,
    3,
    2,
    1,
    0, // label 6: rank 6, neither
    1,
    1,
    1,
    1,
    1,
    1,
    1, // label 0 of a tie: top-1 (ties go to the lower index)
  );
  assert.deepEqual(topkHits(logits, 7, Int32Array.of(6, 4, 6, 0)), { top1: 2, top5: 3 });
});
