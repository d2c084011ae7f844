import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { LOSS_REGISTRY, LOSSES, lossFunction } from '../../src/fitness/losses.js';
import { OBSERVER_REGISTRY, OBSERVERS } from '../../src/calibrate/observers/registry.js';
import { EXPORT_FORMAT_NAMES } from '../../src/export/formats.js';
import { resolveOptions } from '../../src/options/resolve.js';
import { Rng } from '../../src/rng.js';
import { BIN, ROOT, randomTensor } from '../helpers.js';

test("the CLI's choices, help and errors come from the registries", () => {
  const help = spawnSync(process.execPath, [BIN, '--help'], { cwd: ROOT, encoding: 'utf8' }).stdout;
  assert.ok(help.includes(`--loss auto|${LOSSES.join('|')}`), help);
  assert.ok(help.includes(`--observer ${OBSERVERS.join('|')}`));
  assert.ok(help.includes(`--export-format ${EXPORT_FORMAT_NAMES.join('|')}`));
  assert.throws(() => resolveOptions({ loss: 'hinge' }), new RegExp(`Should be one of: auto, ${LOSSES.join(', ')}\\.`));
  assert.throws(() => resolveOptions({ observer: 'mean' }), new RegExp(`Should be one of: ${OBSERVERS.join(', ')}\\.`));
  assert.throws(
    () => resolveOptions({ exportFormat: 'fp8' }),
    new RegExp(`options\\.exportFormat: "fp8". Should be one of: ${EXPORT_FORMAT_NAMES.join(', ')}\\.`),
  );
  for (const name of OBSERVERS) assert.equal(typeof OBSERVER_REGISTRY[name].params, 'function');
});

test('each loss says truly whether it is smallest when the quantized logits equal the float ones', () => {
  const rng = new Rng(4);
  const batch = 20;
  const classes = 10;
  const k = randomTensor(rng, batch * classes, 3);
  for (const name of LOSSES) {
    const loss = lossFunction(name, 3);
    const atFloat = loss(k, k, batch, classes);
    // Logits pushed further apart, in the direction infoNCE with in-batch negatives rewards.
    const sharper = Float32Array.from(k, (v) => v * 1.5);
    const moved = loss(sharper, k, batch, classes);
    assert.ok(Number.isFinite(atFloat) && Number.isFinite(moved), name);
    if (LOSS_REGISTRY[name].minimalAtFloat)
      assert.ok(atFloat <= moved + 1e-9, `${name}: ${atFloat} at q = k, ${moved} away from it`);
    else
      assert.ok(moved < atFloat, `${name} is marked as not smallest at q = k: ${moved} away from it, ${atFloat} at it`);
  }
});
