import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cheapestWithin, type KnapsackOption } from '../../../src/widths/knapsack.js';
import { Rng } from '../../../src/rng.js';

/** Every assignment, for small instances: the least cost within the capacity. */
function bruteForce(items: KnapsackOption[][], capacity: number): number {
  let best = Infinity;
  const visit = (i: number, bytes: number, cost: number) => {
    if (bytes > capacity) return;
    if (i === items.length) return void (best = Math.min(best, cost));
    for (const o of items[i]) visit(i + 1, bytes + o.bytes, cost + o.cost);
  };
  visit(0, 0, 0);
  return best;
}

const totals = (items: KnapsackOption[][], picked: number[]) => ({
  bytes: picked.reduce((n, o, i) => n + items[i][o].bytes, 0),
  cost: picked.reduce((n, o, i) => n + items[i][o].cost, 0),
});

test('the knapsack stays within the capacity and finds the least cost a brute force finds (bytes on a coarse grid)', () => {
  const rng = new Rng(3);
  for (let trial = 0; trial < 60; trial++) {
    // Widths 8, 4, 2 as bytes n, n/2, n/4 (multiples of 4 units), cost 0 at the widest and rising as they narrow.
    const items = Array.from({ length: 2 + Math.floor(rng.next() * 6) }, () => {
      const n = 4 * (1 + Math.floor(rng.next() * 10));
      const four = rng.next() * 0.01 - 0.002;
      return [
        { bytes: n, cost: 0 },
        { bytes: n / 2, cost: four },
        { bytes: n / 4, cost: four + rng.next() * 0.1 },
      ];
    });
    const all = items.reduce((n, o) => n + o[0].bytes, 0);
    const capacity = Math.round(all * (0.25 + 0.75 * rng.next()));
    const picked = cheapestWithin(items, capacity, capacity);
    assert.ok(picked, `trial ${trial}: the narrowest fits`);
    const { bytes, cost } = totals(items, picked);
    assert.ok(bytes <= capacity, `trial ${trial}: ${bytes} bytes within ${capacity}`);
    assert.ok(Math.abs(cost - bruteForce(items, capacity)) < 1e-12, `trial ${trial}: cost ${cost}`);
  }
});

test('the knapsack rounds bytes up to its units, so a coarse grid may cost more but never goes over', () => {
  const items = [
    [
      { bytes: 1000, cost: 0 },
      { bytes: 501, cost: 1 },
    ],
    [
      { bytes: 1000, cost: 0 },
      { bytes: 499, cost: 2 },
    ],
  ];
  // 1,500 bytes fit 1000 + 499 (cost 2); a 3-unit grid (500 bytes each) rounds 499 up to 1 unit and 1000 to 2.
  assert.deepEqual(cheapestWithin(items, 1500, 1500), [0, 1]);
  assert.deepEqual(cheapestWithin(items, 1500, 3), [0, 1]);
  // On a 7-unit grid (143 bytes each) the smallest options round to 8 units; they still fit 1,001 bytes.
  assert.deepEqual(cheapestWithin(items, 1001, 7), [1, 1]);
  assert.equal(cheapestWithin(items, 999), undefined, 'the smallest options take 1,000 bytes');
});

test('among assignments of equal cost the knapsack takes the fewest bytes, and a negative cost is taken', () => {
  const items = [
    [
      { bytes: 8, cost: 0 },
      { bytes: 4, cost: 0 },
    ],
    [
      { bytes: 8, cost: 0 },
      { bytes: 4, cost: -1 },
    ],
  ];
  assert.deepEqual(cheapestWithin(items, 16, 16), [1, 1]);
});
