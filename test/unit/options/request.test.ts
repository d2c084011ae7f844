import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { evaluateModel } from '../../../src/pipeline/evaluate-model.js';
import { quantize } from '../../../src/pipeline/quantize.js';
import { landscape } from '../../../src/pipeline/landscape.js';
import { size } from '../../../src/options/values.js';
import { ASSETS, DEFAULT_MODEL, tempDir } from '../../helpers.js';

const TEST = join(ASSETS, 'cifar10/test');
const CALIB = join(ASSETS, 'cifar10/calib');

test('the library checks its requests at the boundary, naming the field as the API does', async () => {
  // batchSize 0 once ran out of heap and -1 hung.
  for (const batchSize of [0, -1, 1.5, 'lots'])
    await assert.rejects(
      evaluateModel(DEFAULT_MODEL, { data: TEST, batchSize: batchSize as number }),
      new RegExp(`^ConfigError: batchSize must be an integer >= 1, got "${batchSize}"$`),
    );
  await assert.rejects(
    evaluateModel(DEFAULT_MODEL, { data: TEST, limit: 0 }),
    /limit must be an integer >= 1, got "0"/,
  );
  await assert.rejects(evaluateModel(DEFAULT_MODEL, {} as never), /eval\(\): data is required \(labelled images/);
  await assert.rejects(
    quantize(undefined as never),
    /quantize\(\): expected a request object with model, calib, out, got undefined/,
  );
  await assert.rejects(
    quantize({ model: DEFAULT_MODEL, calib: CALIB } as never),
    /quantize\(\): out is required \(the output folder/,
  );
  await assert.rejects(
    quantize({ model: DEFAULT_MODEL, calib: 42, out: join(tempDir(), 'o') } as never),
    /quantize\(\): calib must be a path, got 42/,
  );
  await assert.rejects(
    landscape({ model: DEFAULT_MODEL, calib: CALIB, out: join(tempDir(), 'o'), points: 1 }),
    /points must be an integer in 3\.\.10001, got "1"/,
  );
  // Fields the command does not take, and objects that are not what they say, are refused by name.
  const request = { model: DEFAULT_MODEL, calib: CALIB, out: join(tempDir(), 'o') };
  await assert.rejects(
    quantize({ ...request, evalDir: TEST } as never),
    /^ConfigError: quantize\(\): unknown field evalDir; the request takes model, calib, out, eval, options/,
  );
  await assert.rejects(quantize({ ...request, calibSize: 10 } as never), /unknown field calibSize/);
  await assert.rejects(
    quantize({ ...request, progress: { start() {} } } as never),
    /quantize\(\): progress must be an object with the methods start, update, end, log \(missing update, end, log\)/,
  );
  await assert.rejects(
    quantize({ ...request, runner: 'garbage' } as never),
    /runner must be an object with the methods createSession, got "garbage"/,
  );
  await assert.rejects(
    quantize({ ...request, modelOptions: { mean: '0.5,0.5,0.5' } } as never),
    /quantize\(\): modelOptions\.mean must be an array of numbers, got "0\.5,0\.5,0\.5"/,
  );
  await assert.rejects(
    quantize({ ...request, modelOptions: { stdev: [1] } } as never),
    /unknown field modelOptions\.stdev; modelOptions takes modelFile, output, task, size, mean, std/,
  );
  await assert.rejects(
    quantize({ ...request, runtime: { threads: 0 } }),
    /runtime\.threads must be an integer in 1\.\.1024, got "0"/,
  );
  await assert.rejects(
    evaluateModel(DEFAULT_MODEL, { data: TEST, mean: '0.5' } as never),
    /eval\(\): mean must be an array of numbers/,
  );
  await assert.rejects(
    quantize({ ...request, runtime: { device: 'tpu' } }),
    /^ConfigError: Unsupported runtime\.device: "tpu"/,
  );
  await assert.rejects(
    landscape({ ...request, unit: 99, options: { calibSize: 10, evalLimit: 5 } }),
    /^ConfigError: unit must be in 0\.\.5 \(6 attention units\), got 99$/,
  );
  // Recipe options are named as request fields; the CLI resolves them itself and names its flags.
  const out = join(tempDir(), 'o');
  await assert.rejects(
    quantize({ model: DEFAULT_MODEL, calib: CALIB, out, options: { wBits: 5 as never } }),
    /^ConfigError: Unsupported options\.wBits: "5"\. Should be one of: 8, 4, 3, 2\.$/,
  );
  await assert.rejects(
    quantize({ model: DEFAULT_MODEL, calib: CALIB, out, options: { lis: 'yes' } }),
    /^ConfigError: options\.lis must be true or false, got "yes"$/,
  );
  await assert.rejects(
    landscape({ model: DEFAULT_MODEL, calib: CALIB, out, options: { aBits: 3 as never } }),
    /^ConfigError: Unsupported options\.aBits: "3"/,
  );
});

test('--size takes N or HxW up to 4096 a side (99999x99999 was a RangeError deep inside)', () => {
  assert.deepEqual(size('224', '--size'), [224, 224]);
  assert.deepEqual(size('32x48', '--size'), [32, 48]);
  assert.deepEqual(size([64, 32], 'size'), [64, 32]);
  for (const bad of ['99999x99999', '0x4', '4x', 'x', '1e3', '', [1, 2, 3], [5000, 1]])
    assert.throws(() => size(bad, '--size'), /--size must be N or HxW, each from 1 to 4096, got/, String(bad));
});
