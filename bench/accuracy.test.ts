// `npm run bench:accuracy`: float top-1 of the trained zoo models on the full CIFAR-10 test set against PyTorch's.
// Not part of `npm test`: it reads the zoo and the data set from $SHARED (default: ../shared beside the repository).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluateModel } from '../src/pipeline/evaluate-model.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = resolve(process.env.SHARED ?? join(ROOT, '../shared'));
const ZOO = join(SHARED, 'zoo');
const CIFAR = join(SHARED, 'data/cifar10');

for (const name of ['vit-cifar10', 'resnet-cifar10']) {
  test(`${name}: float top-1 on the full CIFAR-10 test set matches PyTorch within 0.5 points`, async () => {
    const config = JSON.parse(readFileSync(join(ZOO, name, 'config.json'), 'utf8'));
    const accuracy = await evaluateModel(join(ZOO, name), { data: join(CIFAR, 'test') });
    assert.equal(accuracy.n, 10000);
    const gap = Math.abs(accuracy.top1 - config.test_top1_pytorch);
    assert.ok(gap <= 0.005, `evolq ${accuracy.top1}, PyTorch ${config.test_top1_pytorch}`);
  });
}
