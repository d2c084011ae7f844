import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkResumedState } from '../../../src/search/begin.js';
import type { SearchState } from '../../../src/search/state.js';
import type { QuantParams } from '../../../src/quant/scheme.js';

test('a checkpoint whose unit, pass or scales do not fit the search is refused as damaged, not run', () => {
  const base = { w: { kind: 'uniform', scale: Float32Array.of(0.1, 0.2) } } as unknown as Record<string, QuantParams>;
  const state = (edit: Partial<SearchState>) =>
    ({ pass: 1, nextUnit: 2, scales: { w: [0.1, 0.2] }, ...edit }) as SearchState;
  assert.doesNotThrow(() => checkResumedState(3, base, state({})));
  assert.doesNotThrow(() => checkResumedState(3, base, state({ nextUnit: -1 })), 'a finished pass');
  for (const [edit, pattern] of [
    [{ nextUnit: 999 }, /next unit 999 is not one of this model's 3 units: the file is damaged/],
    [{ pass: -3 }, /pass -3 is not a pass number/],
    [{ scales: { w: [0.1] } }, /scales of 'w' do not fit its quant point/],
    [{ scales: { other: [1] } }, /scales of 'other'/],
    [{ scales: { w: [0.1, -1] } }, /scales of 'w'/],
  ] as const)
    assert.throws(() => checkResumedState(3, base, state(edit as Partial<SearchState>)), pattern);
});
