import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { OutputDir, MANIFEST_FILE, abortOpenOutputs } from '../../../src/export/outdir.js';
import { tempDir } from '../../helpers.js';

test('a commit lists what it wrote in the manifest; extending keeps the earlier files', () => {
  const parent = tempDir();
  const out = join(parent, 'o');
  const first = OutputDir.open(out);
  first.write('report.json', '{}');
  first.write('model.onnx', 'bytes');
  first.commit();
  assert.deepEqual(JSON.parse(readFileSync(join(out, MANIFEST_FILE), 'utf8')).files, ['model.onnx', 'report.json']);
  const second = OutputDir.open(out, { extend: true });
  second.write('landscape.json', '{}');
  second.commit();
  assert.deepEqual(readdirSync(out).sort(), [MANIFEST_FILE, 'landscape.json', 'model.onnx', 'report.json']);
  assert.deepEqual(readdirSync(parent), ['o']);
});

test('a file the user puts into the output while a run works is not deleted by its commit', () => {
  const parent = tempDir();
  const out = join(parent, 'o');
  const first = OutputDir.open(out);
  first.write('report.json', '{}');
  first.commit();
  const run = OutputDir.open(out);
  run.write('report.json', '{"new": true}');
  writeFileSync(join(out, 'mine.txt'), 'keep me');
  assert.throws(() => run.commit(), /holds files evolq did not write \(mine\.txt\)/);
  run.abort();
  assert.equal(readFileSync(join(out, 'mine.txt'), 'utf8'), 'keep me');
  assert.equal(readFileSync(join(out, 'report.json'), 'utf8'), '{}');
  assert.deepEqual(readdirSync(parent), ['o']);
});

test('a folder evolq did not write is refused even when it holds a report.json, and a damaged manifest owns nothing', () => {
  const parent = tempDir();
  const other = join(parent, 'other');
  mkdirSync(join(other, 'data'), { recursive: true });
  writeFileSync(join(other, 'report.json'), '{}');
  assert.throws(() => OutputDir.open(other), /holds files evolq did not write \(data\)/);
  writeFileSync(join(other, MANIFEST_FILE), 'not json');
  assert.throws(() => OutputDir.open(other), /holds files evolq did not write \(\.evolq-files\.json\)/);
  assert.deepEqual(readdirSync(parent), ['other'], 'no lock or staging folder left by a refusal');
});

test('interrupting aborts every open output: the staging folder goes unless it holds a checkpoint', () => {
  const parent = tempDir();
  OutputDir.open(join(parent, 'a'));
  const b = OutputDir.open(join(parent, 'b'));
  b.write('checkpoint.json', '{}');
  const lines = abortOpenOutputs('checkpoint.json');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /removed the unfinished .*\.a\.partial/);
  assert.match(lines[1], /kept .*\.b\.partial\/checkpoint\.json to resume from/);
  assert.deepEqual(readdirSync(parent).sort(), ['.b.partial']);
  assert.deepEqual(abortOpenOutputs(), [], 'nothing is open any more');
});

test('a quantize run does not replace the output of another command, which extending it keeps', () => {
  const target = join(tempDir(), 'out');
  const landscape = OutputDir.open(target, { extend: true, command: 'landscape' });
  landscape.write('landscape.json', '{}');
  landscape.commit();
  assert.deepEqual(JSON.parse(readFileSync(join(target, MANIFEST_FILE), 'utf8')).commands, ['landscape']);
  assert.throws(
    () => OutputDir.open(target, { command: 'quantize' }),
    /--out .*out: holds the output of evolq landscape, which this quantize run would replace; choose another folder/,
  );
  assert.ok(existsSync(join(target, 'landscape.json')), 'nothing deleted');
  assert.ok(!existsSync(join(dirname(target), '.out.lock')), 'the lock is released');
  // The same command replaces its own output; a landscape into a quantize output adds to it, and both are recorded.
  const quantized = join(tempDir(), 'q');
  for (let i = 0; i < 2; i++) {
    const q = OutputDir.open(quantized, { command: 'quantize' });
    q.write('report.json', '{}');
    q.commit();
  }
  const added = OutputDir.open(quantized, { extend: true, command: 'landscape' });
  added.write('landscape.json', '{}');
  added.commit();
  assert.deepEqual(JSON.parse(readFileSync(join(quantized, MANIFEST_FILE), 'utf8')).commands, [
    'quantize',
    'landscape',
  ]);
  assert.throws(() => OutputDir.open(quantized, { command: 'quantize' }), /holds the output of evolq landscape/);
  // A folder written before manifests named commands: read from its files.
  rmSync(join(target, MANIFEST_FILE));
  assert.throws(() => OutputDir.open(target, { command: 'quantize' }), /holds the output of evolq landscape/);
});

test("a run without --resume does not delete an unfinished search's checkpoint: it says how to resume or discard it", () => {
  const target = join(tempDir(), 'out');
  const run = OutputDir.open(target, { command: 'quantize', checkpoint: 'search.ckpt' });
  run.write('search.ckpt', 'state');
  run.abort('search.ckpt');
  const staging = join(dirname(target), '.out.partial');
  assert.throws(
    () => OutputDir.open(target, { command: 'quantize', checkpoint: 'search.ckpt' }),
    /\.out\.partial\/search\.ckpt is the checkpoint of an unfinished search; run the same command with --resume to continue it, or delete .*\.out\.partial to start over/,
  );
  assert.ok(existsSync(join(staging, 'search.ckpt')), 'kept');
  const resumed = OutputDir.open(target, { command: 'quantize', checkpoint: 'search.ckpt', keep: true });
  assert.ok(existsSync(resumed.path('search.ckpt')));
  resumed.abort();
});

test("folders named like evolq's staging (.o.partial) or set-aside output (.o.old) that evolq did not make are left alone", () => {
  for (const sibling of ['.o.partial', '.o.old']) {
    const parent = tempDir();
    mkdirSync(join(parent, sibling));
    writeFileSync(join(parent, sibling, 'thesis.tex'), 'mine');
    assert.throws(
      () => OutputDir.open(join(parent, 'o')),
      /evolq did not (make|write) it; rename or remove it/,
      sibling,
    );
    assert.equal(readFileSync(join(parent, sibling, 'thesis.tex'), 'utf8'), 'mine');
    assert.deepEqual(readdirSync(parent), [sibling], `${sibling}: no lock, no output`);
  }
  // evolq's own staging folder (its mark inside) is emptied by the next run as before.
  const parent = tempDir();
  const run = OutputDir.open(join(parent, 'o'));
  run.write('report.json', '{}');
  const again = () => OutputDir.open(join(parent, 'o'), { keep: false });
  assert.throws(again, /pid/, 'locked while the first run holds it');
  run.abort();
  again().commit();
  assert.deepEqual(readdirSync(join(parent, 'o')), [MANIFEST_FILE]);
});
