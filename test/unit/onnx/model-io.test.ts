import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readModel, encodeModel } from '../../../src/onnx/proto.js';
import { Graph } from '../../../src/onnx/graph.js';
import { extractSubgraph } from '../../../src/onnx/extract.js';
import { floatValueInfo } from '../../../src/onnx/proto.js';
import { defaultRunner } from '../../../src/runtime/runner.js';
import { DEFAULT_MODEL, tempDir, randomTensor, maxAbsDiff } from '../../helpers.js';
import { Rng } from '../../../src/rng.js';

const modelFile = join(DEFAULT_MODEL, 'model.onnx');
const pixels = { data: randomTensor(new Rng(1), 8 * 3 * 32 * 32), dims: [8, 3, 32, 32] };

async function logits(model: Uint8Array | string): Promise<Float32Array> {
  const session = await defaultRunner.createSession(model);
  const out = await session.run({ pixel_values: pixels });
  await session.release();
  return out.logits.data;
}

test('a model loaded and saved unchanged gives identical outputs in onnxruntime', async () => {
  const graph = new Graph(readModel(modelFile));
  const saved = graph.toBytes();
  assert.deepEqual(await logits(saved), await logits(modelFile));
});

test('weights stored as external data are read back and give identical outputs', async () => {
  const dir = tempDir();
  const file = join(dir, 'model.onnx');
  const encoded = encodeModel(readModel(modelFile), { externalDataFile: `${file}.data` });
  writeFileSync(file, encoded.model);
  writeFileSync(`${file}.data`, encoded.data!);
  assert.ok(encoded.model.length < 100_000, 'the weights left the .onnx file');
  const expected = await logits(modelFile);
  assert.deepEqual(await logits(file), expected, 'onnxruntime reads the external data');
  const reloaded = new Graph(readModel(file)).toBytes();
  assert.deepEqual(await logits(reloaded), expected, 'evolq reads the external data');
});

test('a truncated external data file is reported with its name', () => {
  const dir = tempDir();
  const file = join(dir, 'model.onnx');
  const encoded = encodeModel(readModel(modelFile), { externalDataFile: `${file}.data` });
  writeFileSync(file, encoded.model);
  writeFileSync(`${file}.data`, encoded.data!.subarray(0, 1000));
  assert.throws(() => readModel(file), /model\.onnx\.data: truncated/);
});

test('the graph IR knows producers, consumers and a topological order', () => {
  const graph = new Graph(readModel(modelFile));
  const order = graph.topoOrder();
  assert.equal(order.length, graph.nodes.length);
  const position = new Map(order.map((n, i) => [n, i]));
  for (const node of order) {
    for (const input of node.inputs) {
      const producer = graph.producer(input);
      if (producer) assert.ok(position.get(producer)! < position.get(node)!, `${producer.name} before ${node.name}`);
    }
  }
  const ln = graph.nodes.find((n) => n.opType === 'LayerNormalization')!;
  assert.ok(graph.consumers(ln.outputs[0]).some((n) => n.opType === 'MatMul'));
  // Reversed node order in the file still yields a valid order.
  graph.nodes.reverse();
  graph.invalidate();
  assert.equal(graph.topoOrder().length, graph.nodes.length);
});

test('a subgraph extracted between two tensors computes what the full model computes there', async () => {
  const graph = new Graph(readModel(modelFile));
  const adds = graph.nodes.filter((n) => n.name.match(/^\/blocks\/blocks\.\d\/Add_1$/));
  const cutIn = adds[2].outputs[0];
  const cutOut = adds[4].outputs[0];
  const probe = graph.clone();
  probe.outputs.push(floatValueInfo(cutIn), floatValueInfo(cutOut));
  const full = await defaultRunner.createSession(probe.toBytes());
  const reference = await full.run({ pixel_values: pixels });
  const sub = extractSubgraph(graph, [cutIn], [cutOut, 'logits']);
  assert.ok(sub.nodes.length < graph.nodes.length / 2);
  const session = await defaultRunner.createSession(sub.toBytes());
  const out = await session.run({ [cutIn]: reference[cutIn] });
  assert.ok(maxAbsDiff(out[cutOut].data, reference[cutOut].data) < 1e-5);
  assert.ok(maxAbsDiff(out.logits.data, reference.logits.data) < 1e-5);
  await full.release();
  await session.release();
});

test('graph edits: inserted nodes and new inputs run in onnxruntime', async () => {
  const graph = new Graph(readModel(modelFile));
  graph.inputs.push(floatValueInfo('offset', []));
  const last = graph.producer('logits')!;
  last.outputs = ['logits_raw'];
  const added = graph.addNode({
    name: 'shift',
    opType: 'Add',
    domain: '',
    inputs: ['logits_raw', 'offset'],
    outputs: ['logits'],
    attributes: [],
  });
  assert.equal(graph.producer('logits'), added);
  const session = await defaultRunner.createSession(graph.toBytes());
  const out = await session.run({ pixel_values: pixels, offset: { data: Float32Array.of(1), dims: [] } });
  const base = await logits(modelFile);
  assert.ok(
    maxAbsDiff(
      out.logits.data,
      base.map((v) => v + 1),
    ) < 1e-5,
  );
  await session.release();
});

test('files that are not ONNX are rejected with the file name', () => {
  const dir = tempDir();
  const text = join(dir, 'notes.onnx');
  writeFileSync(text, 'this is not a model\n');
  assert.throws(() => readModel(text), /notes\.onnx: not (a readable )?(an )?ONNX model/);
  const truncated = join(dir, 'truncated.onnx');
  writeFileSync(truncated, readFileSync(modelFile).subarray(0, 50_000));
  assert.throws(() => readModel(truncated), /truncated\.onnx: not a/);
  assert.throws(() => readModel(join(dir, 'missing.onnx')), /missing\.onnx: no such model file/);
});
