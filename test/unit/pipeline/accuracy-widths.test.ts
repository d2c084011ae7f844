import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topAgreement } from '../../../src/pipeline/accuracy-widths.js';

test("top-1 agreement counts the images whose top class is the reference's, over every batch", () => {
  const tensor = (rows: number[][]) => ({ data: Float32Array.from(rows.flat()), dims: [rows.length, rows[0].length] });
  const reference = [
    tensor([
      [0, 1, 0],
      [2, 0, 0],
    ]),
    tensor([[0, 0, 3]]),
  ];
  const quantized = [
    tensor([
      [0, 2, 1],
      [0, 1, 0],
    ]),
    tensor([[0, 0, 1]]),
  ];
  assert.equal(topAgreement(quantized, reference), 2 / 3);
  assert.equal(topAgreement(reference, reference), 1);
  assert.equal(topAgreement([], []), 1);
});
