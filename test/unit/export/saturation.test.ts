import { test } from 'node:test';
import assert from 'node:assert/strict';
import { int8PairsCanSaturate, saturableKernels } from '../../../src/export/saturation.js';
import { optimizedModel } from '../../../src/export/kernels.js';
import { defaultRunner } from '../../../src/runtime/runner.js';
import { runModel } from '../../helpers.js';
import { avx2DotProduct, matches, worstCaseLayer } from '../../worst-case.js';

test('int8PairsCanSaturate: two values of one sign above 128 together, times 255, overflow int16', () => {
  assert.equal(int8PairsCanSaturate(Int8Array.of(127, 127)), true);
  assert.equal(int8PairsCanSaturate(Int8Array.of(100, 29)), true, '255 · 129 = 32,895');
  assert.equal(int8PairsCanSaturate(Int8Array.of(100, 28, -3)), false, '255 · 128 = 32,640');
  assert.equal(int8PairsCanSaturate(Int8Array.of(-64, -64, 63, 63)), false, 'the 7-bit levels');
  assert.equal(int8PairsCanSaturate(Int8Array.of(-65, -64)), true, '255 · −129 = −32,895');
  assert.equal(int8PairsCanSaturate(Int8Array.of(127, -128, 1)), false, 'opposite signs never overflow');
  assert.equal(avx2DotProduct([255, 255, 255, 255], [127, 127, 127, 127]), 2 * 32767, 'the model saturates each pair');
  assert.equal(avx2DotProduct([255, 255], [64, 64]), 32640);
});

test('worst-case operands (activations at 255, weights at their extremes, K = 512): the exported layer computes exact integer arithmetic, on any CPU', async () => {
  const reduced = await worstCaseLayer(true);
  assert.ok(Math.max(...reduced.levels) <= 63 && Math.min(...reduced.levels) >= -64, 'stored on 7-bit levels');
  assert.ok(
    matches(reduced.avx2, reduced.exact),
    `an AVX2 CPU computes it exactly: ${reduced.avx2} vs ${reduced.exact}`,
  );
  const y = (await runModel(reduced.model, { x: reduced.input })).y.data;
  assert.ok(matches(y, reduced.exact), `onnxruntime here: ${y} vs exact ${reduced.exact}`);
  assert.deepEqual(saturableKernels(await optimizedModel(defaultRunner, reduced.model)), []);

  // The same layer on all 256 levels (--no-reduce-range, and every export before it): an AVX2 CPU saturates it.
  const full = await worstCaseLayer(false);
  assert.ok(!matches(full.avx2, full.exact), `the AVX2 model differs from exact: ${full.avx2} vs ${full.exact}`);
  const z = (await runModel(full.model, { x: full.input })).y.data;
  assert.ok(
    matches(z, full.exact) || matches(z, full.avx2),
    `onnxruntime computes it exactly (VNNI, AMX) or as the AVX2 model says: ${z}`,
  );
  assert.equal(saturableKernels(await optimizedModel(defaultRunner, full.model)).length, 1, 'and the check names it');
});
