import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pointBytes, predictedBytes, widthStorage } from '../../../src/widths/storage.js';
import { buildModel, bytesOf } from '../../helpers.js';

/** A model file with a float initializer of `n` values per name (no nodes: only initializers matter here). */
const file = (inits: Record<string, number>) =>
  bytesOf(
    buildModel({
      inputs: [{ name: 'x', shape: [1] }],
      outputs: ['x'],
      nodes: [],
      inits: Object.entries(inits).map(([name, n]) => ({ name, dims: [n], values: new Float32Array(n) })),
    }),
  );

test("a point's bytes are its initializers named <id>::…; the rest of the file is the rest, and the unpacking's share spreads", () => {
  const wide = file({ 'w0::q': 100, 'w0::q::scale': 4, 'w1::q': 50, other: 10 });
  const weights = [
    { id: 'w0', tensor: 'fc0.weight' },
    { id: 'w1', tensor: 'fc1.weight' },
  ];
  const held = pointBytes(wide, weights);
  assert.ok(held.w0 > 4 * 104 && held.w0 < 4 * 104 + 40, `w0: ${held.w0}`);
  assert.ok(held.w1 > 4 * 50 && held.w1 < 4 * 50 + 20, `w1: ${held.w1}`);
  // The narrow export: each point a quarter, and 16 more bytes elsewhere (as unpacking nodes would add).
  const narrow = file({ 'w0::q': 25, 'w0::q::scale': 4, 'w1::q': 12, other: 14 });
  const storage = widthStorage(
    [
      { bits: 8, file: wide },
      { bits: 2, file: narrow },
    ],
    weights,
  );
  assert.equal(storage.rest, wide.length - held.w0 - held.w1);
  // Uniform widths are predicted exactly, mixed ones from the parts.
  assert.equal(predictedBytes(storage, { w0: 8, w1: 8 }), wide.length);
  assert.ok(Math.abs(predictedBytes(storage, { w0: 2, w1: 2 }) - narrow.length) < 1e-9);
  const mixed = predictedBytes(storage, { w0: 8, w1: 2 });
  assert.ok(mixed < wide.length && mixed > narrow.length, String(mixed));
});

test("a float width is the float weight itself, and the rest is the widest integer export's", () => {
  const weights = [{ id: 'w0', tensor: 'fc0.weight' }];
  const float = file({ 'fc0.weight': 100, other: 10 });
  const int8 = file({ 'w0::q': 25, 'w0::q::scale': 1, other: 12 });
  const held = pointBytes(float, weights);
  assert.ok(held.w0 > 400 && held.w0 < 440, `w0: ${held.w0}`);
  const storage = widthStorage(
    [
      { bits: 32, file: float },
      { bits: 8, file: int8 },
    ],
    weights,
  );
  assert.equal(storage.rest, int8.length - pointBytes(int8, weights).w0);
  assert.equal(predictedBytes(storage, { w0: 32 }), float.length);
  assert.equal(predictedBytes(storage, { w0: 8 }), int8.length);
});
