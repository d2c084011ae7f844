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
      '--keep-simulation',
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
  // the mean losses by far less than 1% (1e-5 of 3.4e-3 measured on an AVX2 CPU, 2.5e-6 with VNNI). So the losses of
  // the same scales agree within 1%: the baseline's, before any step. The steps after it compare candidates whose
  // losses can differ by less than that, and a near tie may go either way in the two runs (one run of the suite,
  // with --conv-outputs on by default, accepted a step the other did not): their paths are not compared.
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-2 * Math.max(Math.abs(a), Math.abs(b));
  const first = (r: { search: { trajectory: { before: number }[] } }) => r.search.trajectory[0].before;
  assert.ok(close(first(spilled.report), first(held.report)), `${first(spilled.report)} vs ${first(held.report)}`);
  const baseline = (r: { search: { holdout: { pass: number; loss: number }[] } }) =>
    r.search.holdout.find((h) => h.pass === 0)!.loss;
  assert.ok(close(baseline(spilled.report), baseline(held.report)));
  assert.equal(spilled.report.search.trajectory.length, held.report.search.trajectory.length, 'the same steps ran');
  // The same quant points and widths in both: only scales may differ.
  const shape = (quant: string) =>
    (JSON.parse(quant).points as { id: string; bits: number }[]).map((p) => `${p.id}:${p.bits}`);
  assert.deepEqual(shape(spilled.quant), shape(held.quant));
});
