import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateModel } from '../../src/pipeline/evaluate-model.js';
import { ZOO, CIFAR } from '../helpers.js';

for (const name of ['vit-cifar10', 'resnet-cifar10']) {
  test(`${name}: float top-1 on the full CIFAR-10 test set matches PyTorch within 0.5 points`, async () => {
    const config = JSON.parse(readFileSync(join(ZOO, name, 'config.json'), 'utf8'));
    const accuracy = await evaluateModel(join(ZOO, name), { data: join(CIFAR, 'test') });
    assert.equal(accuracy.n, 10000);
    const gap = Math.abs(accuracy.top1 - config.test_top1_pytorch);
    assert.ok(gap <= 0.005, `evolq ${accuracy.top1}, PyTorch ${config.test_top1_pytorch}`);
  });
}
