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
  const held = pointBytes(wide, ['w0', 'w1']);
  assert.ok(held.w0 > 4 * 104 && held.w0 < 4 * 104 + 40, `w0: ${held.w0}`);
  assert.ok(held.w1 > 4 * 50 && held.w1 < 4 * 50 + 20, `w1: ${held.w1}`);
  // The narrow export: each point a quarter, and 16 more bytes elsewhere (as unpacking nodes would add).
  const narrow = file({ 'w0::q': 25, 'w0::q::scale': 4, 'w1::q': 12, other: 14 });
  const storage = widthStorage(
    [
      { bits: 8, file: wide },
      { bits: 2, file: narrow },
    ],
    ['w0', 'w1'],
  );
  assert.equal(storage.rest, wide.length - held.w0 - held.w1);
  // Uniform widths are predicted exactly, mixed ones from the parts.
  assert.equal(predictedBytes(storage, { w0: 8, w1: 8 }), wide.length);
  assert.ok(Math.abs(predictedBytes(storage, { w0: 2, w1: 2 }) - narrow.length) < 1e-9);
  const mixed = predictedBytes(storage, { w0: 8, w1: 2 });
  assert.ok(mixed < wide.length && mixed > narrow.length, String(mixed));
});
