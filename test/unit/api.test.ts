import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as evolq from '../../src/index.js';
import { DEFAULT_MODEL, ASSETS, ROOT } from '../helpers.js';

test('the package entry point exports the pipeline the CLI wraps', async () => {
  const pkg = await import(join(ROOT, 'dist/src/index.js'));
  for (const name of [
    'loadModel',
    'findQuantPoints',
    'findUnits',
    'calibrate',
    'materialize',
    'evolqSearch',
    'quantize',
    'evaluateModel',
    'inspectModel',
    'prepare',
    'calibrateBaseline',
    'foldBatchNorms',
    'deployableGraph',
    'quantJson',
    'landscape',
    'measureLandscape',
    'reportHtml',
    'lossFunction',
  ]) {
    assert.equal(typeof pkg[name], 'function', name);
  }
  const report = evolq.inspectModel(DEFAULT_MODEL);
  assert.equal(report.units.length, 6);
  const accuracy = await evolq.evaluateModel(DEFAULT_MODEL, { data: join(ASSETS, 'cifar10/test'), limit: 100 });
  assert.equal(accuracy.n, 100);
});
