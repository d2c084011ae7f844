// --memory-budget: a budget too small for the search's cached unit inputs spills them to disk, and its forwards
// run an image at a time; the search reads the same bytes back and joins each batch's logits before the loss, so
// its result is the same, and report.json says what spilled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT, ASSETS, DEFAULT_MODEL, tempDir } from '../helpers.js';

function quantize(out: string, ...extra: string[]) {
  const result = spawnSync(
    process.execPath,
    [
      BIN,
      'quantize',
      '--no-float-fallback',
      '--no-speed',
      DEFAULT_MODEL,
      '--calib',
      join(ASSETS, 'cifar10/calib'),
      '--out',
      out,
      '--method',
      'evolq',
      '--w-bits',
      '4',
      '--calib-size',
      '100',
      '--holdout',
      '20',
      '--cycles',
      '1',
      '--passes',
      '1',
      '--population',
      '4',
      '--batch-size',
      '25',
      '--json',
      '--quiet',
      ...extra,
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  assert.equal(result.status, 0, result.stderr);
  return { report: JSON.parse(result.stdout), quant: readFileSync(join(out, 'quant.json'), 'utf8') };
}

test('a memory budget smaller than the unit inputs spills them and runs the forwards in pieces, with the same search result and report.json saying so', () => {
  const dir = tempDir();
  const held = quantize(join(dir, 'held'));
  const spilled = quantize(join(dir, 'spilled'), '--memory-budget', '1M');
  assert.equal(held.report.memory.unitInputs.spilledBytes, 0);
  assert.equal(held.report.memory.unitInputs.folder, null);
  const spill = spilled.report.memory.unitInputs;
  assert.equal(spilled.report.memory.budget, 1024 ** 2);
  assert.equal(spill.inMemoryBytes, 0, 'the decoded images alone pass 1 MiB: nothing is held');
  assert.equal(spill.spilledBytes, held.report.memory.unitInputs.inMemoryBytes);
  assert.equal(held.report.memory.searchForwardImages, 25, 'a 32 px batch of 25 fits the default budget whole');
  assert.equal(spilled.report.memory.searchForwardImages, 1, 'an image a run within 1 MiB');
  assert.equal(spill.spilledTensors, 100 * held.report.units.length, 'every unit input of the 100 runs of one image');
  assert.ok(!existsSync(spill.folder), 'the spill folder is gone after the search');
  assert.ok(spilled.report.memory.calibration.sampleChunk < held.report.memory.calibration.sampleChunk);
  // onnxruntime sums a run of one image and one of 25 in other orders (other kernels per batch size, and per CPU):
  // float32 bounds each dot product's difference by K·u·Σ|xy| (K ≤ 1,536 terms here, u = 6e-8: ~1e-4 of its
  // magnitude), and a quantizer turns a value that close to a step into a whole level. A few levels an image move
  // the mean losses by far less than 1% (1e-5 of 3.4e-3 measured on an AVX2 CPU, 2.5e-6 with VNNI); the search's
  // decisions, and so quant.json and the accuracies, are the same.
  assert.equal(spilled.quant, held.quant);
  const close = (a: number[], b: number[]) =>
    a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) <= 1e-2 * Math.max(Math.abs(x), Math.abs(b[i])));
  const after = (r: { search: { trajectory: { after: number }[] } }) => r.search.trajectory.map((t) => t.after);
  assert.ok(close(after(spilled.report), after(held.report)), `${after(spilled.report)} vs ${after(held.report)}`);
  const holdout = (r: { search: { holdout: { measure: number; loss: number; top1: number }[] } }) => r.search.holdout;
  assert.ok(
    close(
      holdout(spilled.report).map((h) => h.measure),
      holdout(held.report).map((h) => h.measure),
    ),
  );
  assert.ok(
    close(
      holdout(spilled.report).map((h) => h.loss),
      holdout(held.report).map((h) => h.loss),
    ),
  );
  assert.deepEqual(
    holdout(spilled.report).map((h) => h.top1),
    holdout(held.report).map((h) => h.top1),
  );
  assert.deepEqual(spilled.report.evolq, held.report.evolq);
});
