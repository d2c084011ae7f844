import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../../src/model.js';
import { findQuantPoints } from '../../../src/quant/points.js';
import { resolveOptions } from '../../../src/options/resolve.js';
import { DEFAULT_MODEL } from '../../helpers.js';

test('--float-layers: a named layer or op type loses its weight quantizer and its inputs reach it unquantized', () => {
  const { graph } = loadModel(DEFAULT_MODEL);
  const all = findQuantPoints(graph);
  const qkv = '/blocks/blocks.0/attn/qkv/MatMul';
  const one = findQuantPoints(graph, { floatLayers: [qkv] });
  assert.equal(one.filter((p) => p.kind === 'weight').length, all.filter((p) => p.kind === 'weight').length - 1);
  assert.ok(!one.some((p) => p.node === qkv && p.kind === 'weight'));
  assert.ok(!one.some((p) => p.consumers.includes(qkv)), 'no quantizer feeds it');
  assert.equal(one.length, all.length - 2, 'its weight and its input (read by it alone) go; the rest stay');
  assert.equal(one.filter((p) => p.kind === 'weight')[0].id, 'w0', 'ids stay dense');

  const noConvNoGemm = findQuantPoints(graph, { floatLayers: ['Conv', 'Gemm'] });
  const layers = (points: typeof all) =>
    points.filter((p) => p.kind === 'weight').map((p) => graph.nodes.find((n) => n.name === p.node)!.opType);
  assert.ok(layers(all).includes('Conv') && layers(all).includes('Gemm'));
  assert.deepEqual([...new Set(layers(noConvNoGemm))], ['MatMul']);

  assert.throws(
    () => findQuantPoints(graph, { floatLayers: ['MatMull'] }),
    /--float-layers: "MatMull" is neither a node name nor an op type/,
  );
  assert.deepEqual(resolveOptions({ floatLayers: 'Conv, Gemm' }).floatLayers, ['Conv', 'Gemm']);
  assert.deepEqual(resolveOptions({}).floatLayers, []);
  assert.throws(
    () => resolveOptions({ floatLayers: 'Conv,,Gemm' }),
    /options\.floatLayers must be names separated by commas/,
  );
});
