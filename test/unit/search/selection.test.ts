import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  betterThan,
  holdoutValues,
  pairedBootstrap,
  whyKept,
  type HoldoutScore,
} from '../../../src/search/selection.js';
import { Rng } from '../../../src/rng.js';

const tensor = (rows: number[][]) => ({ data: Float32Array.from(rows.flat()), dims: [rows.length, rows[0].length] });

test('the KL measure is 0 per image exactly where the quantized logits equal the float ones, positive elsewhere', () => {
  const k = tensor([
    [2, 0, -1],
    [0.5, 0.4, 3],
  ]);
  const same = holdoutValues('kl', [k], [k], Int32Array.from([0, 2]));
  assert.deepEqual(Array.from(same.perImage!), [0, 0]);
  assert.equal(same.top1, 1);
  assert.equal(same.agreement, 1);
  const q = tensor([
    [2, 0, -1],
    [3, 0.4, 0.5],
  ]);
  const moved = holdoutValues('kl', [q], [k], Int32Array.from([0, 2]));
  assert.equal(moved.perImage![0], 0);
  assert.ok(moved.perImage![1] > 0.5);
  assert.equal(moved.top1, 0.5);
  assert.equal(moved.agreement, 0.5);
  // A sharper softmax with the same top-1 is not free under KL (infoNCE would reward it).
  const sharper = holdoutValues(
    'kl',
    [
      tensor([
        [4, 0, -2],
        [1, 0.8, 6],
      ]),
    ],
    [k],
    Int32Array.from([0, 2]),
  );
  assert.ok(sharper.perImage!.every((x) => x > 0));
  const dis = holdoutValues('disagreement', [q], [k], Int32Array.from([0, 2]));
  assert.deepEqual(Array.from(dis.perImage!), [0, 1]);
});

test('the paired bootstrap separates a real improvement from noise, deterministically', () => {
  const rng = new Rng(1);
  const baseline = Float64Array.from({ length: 200 }, () => rng.next());
  const better = baseline.map((x) => x - 0.05 + 0.02 * rng.symmetric(1));
  const real = pairedBootstrap(better, baseline);
  assert.ok(real.difference < -0.04 && real.notBetter === 0, JSON.stringify(real));
  const noise = baseline.map((x) => x + 0.3 * rng.symmetric(1));
  const noisy = pairedBootstrap(noise, baseline);
  assert.ok(noisy.notBetter > 0.05, JSON.stringify(noisy));
  assert.ok(
    Math.abs(noisy.standardError - 0.3 / Math.sqrt(3) / Math.sqrt(200)) < 0.005,
    `standard error ${noisy.standardError}`,
  );
  assert.deepEqual(pairedBootstrap(noise, baseline), noisy);
  assert.equal(pairedBootstrap(baseline, baseline).notBetter, 1, 'a copy of the baseline is never better');
});

test('a pass is kept only when it beats the baseline above the noise and every pass kept before it', () => {
  const score = (pass: number, measure: number, difference?: number, notBetter?: number): HoldoutScore => ({
    pass,
    measure,
    loss: measure,
    top1: 0.5,
    agreement: 0.9,
    ...(difference === undefined ? {} : { versusBaseline: { difference, standardError: 0.01, notBetter: notBetter! } }),
  });
  const base = score(0, 1.0);
  const noisy = score(1, 0.99, -0.01, 0.2);
  const clear = score(2, 0.95, -0.05, 0.0);
  const clearer = score(3, 0.9, -0.1, 0.0);
  assert.equal(betterThan('kl', noisy, base), false);
  assert.equal(betterThan('kl', clear, base), true);
  assert.equal(betterThan('kl', clear, clearer), false);
  assert.equal(betterThan('loss', noisy, base), true, "the Evol-Q code's rule takes any lower loss");
  assert.match(
    whyKept('kl', [base, noisy], 0, 200),
    /no pass beat the baseline's holdout kl \(1\.0000\) above the noise of 200 holdout images.*not better in 20% of bootstrap resamples/,
  );
  assert.match(
    whyKept('kl', [base, noisy, clear], 2, 200),
    /^pass 2 had the lowest holdout kl \(0\.95000 against the baseline's 1\.0000, lower by 5\.0 standard errors of the difference on 200 holdout images\)$/,
  );
  // The unsearched start is a candidate too: kept when no pass goes below it, named when nothing beats the baseline.
  const start = { ...clear, pass: 0 };
  assert.match(
    whyKept('kl', [base, noisy], 0, 200, { name: 'fitted', score: start, kept: true }),
    /^the unsearched fitted start had the lowest holdout kl \(0\.95000 against the baseline's 1\.0000, lower by 5\.0 standard errors .*\); no pass went below it$/,
  );
  assert.match(
    whyKept('kl', [base, noisy], 0, 200, { name: 'fitted', score: { ...noisy, pass: 0 }, kept: false }),
    /^neither the fitted start nor any pass beat the baseline's holdout kl/,
  );
});

test('--patience stops the search once that many passes in a row found no lower holdout measure', async () => {
  const { stalled } = await import('../../../src/search/selection.js');
  const at = (...measures: number[]) =>
    measures.map((measure, pass) => ({ pass, measure, loss: measure, top1: 0, agreement: 0 }));
  assert.equal(stalled(at(1, 2, 3), 0), false, '0 never stops');
  assert.equal(stalled(at(1, 2), 2), false);
  assert.equal(stalled(at(1, 2, 3), 2), true, 'two passes above the baseline');
  assert.equal(stalled(at(1, 0.5, 0.6, 0.7), 2), true);
  assert.equal(stalled(at(1, 0.5, 0.6, 0.4), 2), false, 'a new lowest resets the count');
});
