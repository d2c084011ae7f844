import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
