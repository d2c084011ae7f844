import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel } from '../../../src/model.js';
import { findQuantPoints } from '../../../src/quant/points.js';
import { FIXTURES } from '../../helpers.js';

test('--conv-outputs: a quantizer on each Conv output no quantizer reads next; Conv → ReLU → quantizer is left as it is', () => {
  const { graph } = loadModel(join(FIXTURES, 'resnet-cifar10-small'));
  const plain = findQuantPoints(graph);
  const points = findQuantPoints(graph, { convOutputs: true });
  const added = points.filter((p) => p.role === 'conv-output');
  assert.equal(points.length, plain.length + added.length);
  assert.ok(added.length > 0);
  for (const p of added) {
    const writer = graph.producer(p.tensor)!;
    assert.equal(writer.opType, 'Conv', `${p.id} quantizes a Conv output`);
    assert.equal(p.node, writer.name);
    assert.ok(!plain.some((q) => q.tensor === p.tensor), `${p.tensor} had no quantizer`);
    const readers = graph.consumers(p.tensor);
    assert.ok(
      !(readers.length === 1 && readers[0].opType === 'Relu' && plain.some((q) => q.tensor === readers[0].outputs[0])),
      `${p.tensor}: a ReLU into a quantizer is fused without it`,
    );
  }
  // Every quantized Conv now writes a quantized tensor, directly or through its ReLU.
  const quantized = new Set(points.filter((p) => p.kind !== 'weight').map((p) => p.tensor));
  for (const w of points.filter((p) => p.kind === 'weight')) {
    const conv = graph.nodes.find((n) => n.name === w.node)!;
    if (conv.opType !== 'Conv') continue;
    const out = conv.outputs[0];
    const relu = graph.consumers(out).find((n) => n.opType === 'Relu');
    assert.ok(quantized.has(out) || (relu && quantized.has(relu.outputs[0])), `${conv.name}'s output`);
  }
});

test('--conv-outputs: a Conv kept float gets no quantizer on its output (it is there only so the Conv fuses)', () => {
  const { graph } = loadModel(join(FIXTURES, 'resnet-cifar10-small'));
  const all = findQuantPoints(graph, { convOutputs: true });
  const floatConv = all.find((p) => p.role === 'conv-output')!.node;
  const points = findQuantPoints(graph, { convOutputs: true, floatLayers: [floatConv] });
  assert.ok(!points.some((p) => p.role === 'conv-output' && p.node === floatConv));
  assert.equal(
    points.filter((p) => p.role === 'conv-output').length,
    all.filter((p) => p.role === 'conv-output').length - 1,
  );
});
