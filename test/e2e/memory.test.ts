// --memory-budget: a budget too small for the search's cached unit inputs spills them to disk; the search
// reads the same bytes back, so its result is the same bit for bit, and report.json says what spilled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT, ASSETS, DEFAULT_MODEL, tempDir } from '../helpers.js';

function quantize(out: string, ...extra: string[]) {
  const result = spawnSync(process.execPath, [BIN, 'quantize', DEFAULT_MODEL, '--calib', join(ASSETS, 'cifar10/calib'), '--out', out,
    '--method', 'evolq', '--w-bits', '4', '--calib-size', '100', '--holdout', '20', '--cycles', '1', '--passes', '1', '--population', '4', '--batch-size', '25',
    '--json', '--quiet', ...extra], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return { report: JSON.parse(result.stdout), quant: readFileSync(join(out, 'quant.json'), 'utf8') };
}

test('a memory budget smaller than the unit inputs spills them, with the same search result and report.json saying so', () => {
  const dir = tempDir();
  const held = quantize(join(dir, 'held'));
  const spilled = quantize(join(dir, 'spilled'), '--memory-budget', '1M');
  assert.equal(held.report.memory.unitInputs.spilledBytes, 0);
  assert.equal(held.report.memory.unitInputs.folder, null);
  const spill = spilled.report.memory.unitInputs;
  assert.equal(spilled.report.memory.budget, 1024 ** 2);
  assert.equal(spill.inMemoryBytes, 0, 'the decoded images alone pass 1 MiB: nothing is held');
  assert.equal(spill.spilledBytes, held.report.memory.unitInputs.inMemoryBytes);
  assert.equal(spill.spilledTensors, 4 * held.report.units.length, 'every unit input of the 4 batches of 25');
  assert.ok(!existsSync(spill.folder), 'the spill folder is gone after the search');
  assert.ok(spilled.report.memory.calibration.sampleChunk < held.report.memory.calibration.sampleChunk);
  assert.equal(spilled.quant, held.quant);
  assert.deepEqual(spilled.report.search.trajectory.map((r: { after: number }) => r.after), held.report.search.trajectory.map((r: { after: number }) => r.after));
  assert.deepEqual(spilled.report.search.holdoutLoss, held.report.search.holdoutLoss);
  assert.deepEqual(spilled.report.evolq, held.report.evolq);
});
