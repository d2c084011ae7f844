import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectTask } from '../../../src/task.js';
import { floatValueInfo } from '../../../src/onnx/proto.js';
import { forTask } from '../../../src/options/task-defaults.js';
import { resolveOptions } from '../../../src/options/resolve.js';
import { holdoutValues } from '../../../src/search/selection.js';

test('the task: --task wins; an embedding name or more than two axes is an encoder; logits, id2label or a classifier architecture a classifier', () => {
  const output = (name: string, shape: (number | string)[] = ['batch', 384]) => floatValueInfo(name, shape);
  const task = (name: string, config?: Record<string, unknown>, shape?: (number | string)[]) =>
    detectTask(output(name, shape), config).task;
  assert.equal(task('image_embeds'), 'image-feature-extraction');
  assert.equal(task('pooler_output', { id2label: { 0: 'a' } }), 'image-feature-extraction');
  assert.equal(task('y', undefined, ['batch', 197, 384]), 'image-feature-extraction');
  assert.equal(task('logits', {}), 'image-classification');
  assert.equal(task('output'), 'image-classification');
  assert.equal(task('output', { id2label: { 0: 'a' } }), 'image-classification');
  assert.equal(task('output', { architectures: ['ResNetForImageClassification'] }), 'image-classification');
  assert.equal(task('output', { model_type: 'dinov2' }), 'image-feature-extraction');
  assert.deepEqual(detectTask(output('logits'), {}, 'image-feature-extraction'), {
    task: 'image-feature-extraction',
    reason: '--task',
  });
  assert.match(detectTask(output('output'), undefined).reason, /bare export/);
});

test('auto loss and selection follow the task; an encoder refuses KL and disagreement', () => {
  const defaults = resolveOptions({});
  assert.deepEqual([defaults.loss, defaults.select], ['auto', 'auto']);
  const classifier = forTask(defaults, 'image-classification');
  assert.deepEqual([classifier.loss, classifier.select], ['kl', 'kl']);
  const encoder = forTask(defaults, 'image-feature-extraction');
  assert.deepEqual([encoder.loss, encoder.select], ['infonce', 'cosine']);
  const paper = forTask(resolveOptions({ preset: 'paper' }), 'image-feature-extraction');
  assert.deepEqual([paper.loss, paper.select], ['infonce', 'loss']);
  assert.throws(
    () => forTask(resolveOptions({ loss: 'kl' }), 'image-feature-extraction'),
    /^ConfigError: options\.loss kl compares the softmax of class logits, and the model is an image encoder \(--task image-feature-extraction\): give infonce, cosine or mse/,
  );
  assert.throws(
    () => forTask(resolveOptions({ select: 'disagreement' }), 'image-feature-extraction'),
    /options\.select disagreement compares top-1 classes/,
  );
  assert.equal(forTask(resolveOptions({ select: 'cosine' }), 'image-classification').select, 'cosine');
});

test('the holdout of an encoder: 1 − cosine per image, its mean cosine, no top-1 or agreement', () => {
  const q = { data: Float32Array.from([1, 0, 0, 1, 1, 1]), dims: [3, 2] };
  const k = { data: Float32Array.from([1, 0, 1, 0, 1, 1]), dims: [3, 2] };
  const values = holdoutValues('cosine', [q], [k], Int32Array.from([0, 1, 1]), 'image-feature-extraction');
  assert.deepEqual(
    [...values.perImage!].map((v) => Math.round(v * 1e9) / 1e9),
    [0, 1, 0],
  );
  assert.deepEqual([values.top1, values.agreement], [null, null]);
  assert.ok(Math.abs(values.cosine! - 2 / 3) < 1e-12);
  const classifier = holdoutValues('cosine', [q], [k], Int32Array.from([0, 1, 1]));
  assert.equal(classifier.top1, 2 / 3);
});
