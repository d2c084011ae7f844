import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLAG_NAMING, resolveOptions } from '../../../src/options/resolve.js';
import { sizeBudget, bitChoices, latencyFraction } from '../../../src/options/values.js';

test('--size-budget reads a fraction below 1 or a size with its unit, and refuses a bare number from 1 up', () => {
  assert.deepEqual(sizeBudget('0.2', '--size-budget'), { fraction: 0.2 });
  assert.deepEqual(sizeBudget(0.5, '--size-budget'), { fraction: 0.5 });
  assert.deepEqual(sizeBudget('5MB', '--size-budget'), { bytes: 5 * 1024 ** 2 });
  assert.deepEqual(sizeBudget('800k', '--size-budget'), { bytes: 800 * 1024 });
  assert.deepEqual(sizeBudget('582815B', '--size-budget'), { bytes: 582815 });
  assert.deepEqual(sizeBudget({ bytes: 1000 }, '--size-budget'), { bytes: 1000 });
  assert.deepEqual(sizeBudget({ fraction: 0.3 }, '--size-budget'), { fraction: 0.3 });
  for (const bad of ['1', '5', '0', '-0.2', 'small', '5 parsecs', '', { bytes: 0 }, { fraction: 2 }, [0.2]])
    assert.throws(
      () => sizeBudget(bad, '--size-budget'),
      /--size-budget(\.bytes)? must be (a fraction|an integer)/,
      JSON.stringify(bad),
    );
});

test('--w-bit-choices reads widths from float, 8, 4 and 2, widest first, each once', () => {
  const parse = bitChoices([8, 4, 2], 32);
  assert.deepEqual(parse('4,float,8', '--w-bit-choices'), [32, 8, 4]);
  assert.deepEqual(parse(['float', 2], '--w-bit-choices'), [32, 2]);
  assert.throws(() => parse('float,float', '--w-bit-choices'), /names a width twice/);
  assert.throws(
    () => parse('8,16', '--w-bit-choices'),
    /Unsupported --w-bit-choices: "16". Should be one of: 8, 4, 2, float/,
  );
  assert.deepEqual(parse('4,8', '--w-bit-choices'), [8, 4]);
  assert.deepEqual(parse([2, 8, 4], '--w-bit-choices'), [8, 4, 2]);
  assert.throws(() => parse('8,8', '--w-bit-choices'), /--w-bit-choices names a width twice/);
  assert.throws(() => parse('8,3', '--w-bit-choices'), /Unsupported --w-bit-choices: "3"/);
  assert.throws(() => parse('', '--w-bit-choices'), /Unsupported --w-bit-choices/);
});

test('a size budget calibrates at the widest choice, and its conflicts are refused by flag', () => {
  const o = resolveOptions({ sizeBudget: '0.2', wBitChoices: '4,2' }, 'quantize', FLAG_NAMING);
  assert.equal(o.wBits, 4);
  assert.deepEqual(o.wBitChoices, [4, 2]);
  // The CLI resolves its options before the library resolves them again: the same options pass twice.
  assert.deepEqual(resolveOptions(o), o);
  const plain = resolveOptions({}, 'quantize', FLAG_NAMING);
  assert.deepEqual(resolveOptions(plain), plain);
  const refusals: [Record<string, unknown>, RegExp][] = [
    [
      { wBitChoices: '8,4' },
      /--w-bit-choices is what --size-budget, --accuracy-budget, --latency-budget choose from: give one of them/,
    ],
    [
      { sizeBudget: '0.2', wBits: 4 },
      /--size-budget gives each layer its own width from --w-bit-choices: drop --w-bits/,
    ],
    [
      { sizeBudget: '0.2', exportFormat: 'qdq' },
      /--export-format qdq does not store 2-bit weights under --size-budget: give --export-format per-channel or --w-bit-choices without 2/,
    ],
    [
      { sizeBudget: '0.2', exportFormat: 'blocked' },
      /--export-format blocked does not store per-layer widths under --size-budget/,
    ],
  ];
  for (const [given, message] of refusals)
    assert.throws(() => resolveOptions(given, 'quantize', FLAG_NAMING), message, JSON.stringify(given));
  assert.equal(resolveOptions({ sizeBudget: '0.2', exportFormat: 'qdq', wBitChoices: '8,4' }).wBits, 8);
});

test('--latency-budget reads a fraction of float latency strictly between 0 and 1', () => {
  assert.equal(latencyFraction('0.6', '--latency-budget'), 0.6);
  for (const bad of ['1', '1.5', '0', '-0.5', 'fast', ''])
    assert.throws(
      () => latencyFraction(bad, '--latency-budget'),
      /--latency-budget must be a fraction of the float model's latency above 0 and below 1/,
    );
});

test("each budget's default choices, the widest integer calibrated, and the latency budget's refusals", () => {
  const defaults: [Record<string, unknown>, number[]][] = [
    [{ sizeBudget: '0.2' }, [8, 4, 2]],
    [{ accuracyBudget: 1 }, [32, 8, 4, 2]],
    [{ latencyBudget: 0.6 }, [32, 8]],
    [{ latencyBudget: 0.6, wBitChoices: 'float,4' }, [32, 4]],
  ];
  for (const [given, choices] of defaults) {
    const o = resolveOptions(given, 'quantize', FLAG_NAMING);
    assert.deepEqual(o.wBitChoices, choices, JSON.stringify(given));
    assert.equal(
      o.wBits,
      choices.find((b) => b !== 32),
    );
    assert.deepEqual(resolveOptions(o), o);
  }
  const refusals: [Record<string, unknown>, RegExp][] = [
    [
      { latencyBudget: 0.6, sizeBudget: 0.2 },
      /--size-budget and --latency-budget each choose the widths: give one of them/,
    ],
    [{ latencyBudget: 0.6, wBitChoices: 'float' }, /--w-bit-choices float: give at least one integer width too/],
    [
      { latencyBudget: 0.6, method: 'evolq', resume: true },
      /--latency-budget chooses the widths from timings.*drop --resume/,
    ],
  ];
  for (const [given, message] of refusals)
    assert.throws(() => resolveOptions(given, 'quantize', FLAG_NAMING), message, JSON.stringify(given));
});
