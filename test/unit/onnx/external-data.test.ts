import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnx, readModel, type ModelProto } from '../../../src/onnx/proto.js';
import { buildModel, bytesOf, tempDir } from '../../helpers.js';

// A MatMul model whose [4, 2] float weight lives in external data, with the entries given.
function externalModel(entries: Record<string, string>): ModelProto {
  const model = buildModel({
    inputs: [{ name: 'x', shape: [1, 4] }],
    outputs: ['y'],
    inits: [{ name: 'W', dims: [4, 2], values: new Float32Array(8) }],
    nodes: [{ op: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] }],
  });
  const w = model.graph!.initializer![0];
  w.rawData = new Uint8Array(0);
  w.floatData = [];
  w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  w.externalData = Object.entries(entries).map(([key, value]) => ({ key, value }));
  return model;
}

/** A model folder `root/model/` with model.onnx, weights.bin (32 bytes of 1.5f) and a secret file beside it in root. */
function folder(entries: Record<string, string>): { root: string; file: string } {
  const root = tempDir();
  mkdirSync(join(root, 'model'));
  writeFileSync(join(root, 'secret'), 'not a weight, 32 bytes long ....');
  writeFileSync(join(root, 'model', 'weights.bin'), Buffer.from(new Float32Array(8).fill(1.5).buffer));
  const file = join(root, 'model', 'model.onnx');
  writeFileSync(file, bytesOf(externalModel(entries)));
  return { root, file };
}

test('external data inside the model folder loads, at its offset', () => {
  const { file } = folder({ location: 'weights.bin', offset: '0', length: '32' });
  const w = readModel(file).graph!.initializer![0];
  assert.deepEqual(Array.from(new Float32Array(new Uint8Array(w.rawData!).buffer)), new Array(8).fill(1.5));
});

test('external data is read only from inside the model folder: no absolute path, no .., no link leading out', () => {
  for (const [location, pattern] of [
    ['../secret', /names external data at '\.\.\/secret', outside the model's folder/],
    ['../../../../etc/passwd', /outside the model's folder/],
    ['/etc/passwd', /outside the model's folder/],
    ['sub/../../secret', /outside the model's folder/],
  ] as const) {
    const { file } = folder({ location });
    assert.throws(() => readModel(file), pattern, location);
  }
  const { root, file } = folder({ location: 'link.bin' });
  symlinkSync(join(root, 'secret'), join(root, 'model', 'link.bin'));
  assert.throws(() => readModel(file), /link\.bin for initializer 'W' links to .*secret, outside the model's folder/);
});

test('external data offsets and lengths are byte counts within the file, and the length is the tensor size', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ location: 'weights.bin', offset: '-4' }, /offset '-4', not a byte count/],
    [{ location: 'weights.bin', offset: 'abc' }, /offset 'abc', not a byte count/],
    [{ location: 'weights.bin', length: '1e3' }, /length '1e3', not a byte count/],
    [{ location: 'weights.bin', offset: '16', length: '32' }, /truncated, initializer 'W' needs bytes 16\.\.48 of 32/],
    [{ location: 'weights.bin', offset: '64' }, /truncated/],
    [
      { location: 'weights.bin', length: '16' },
      /initializer 'W' of shape \[4, 2\] needs 32 bytes, its data has 16: the file is damaged/,
    ],
    [{ location: 'missing.bin' }, /missing\.bin for initializer 'W' is missing/],
    [{ location: '' }, /is external but names no location/],
  ];
  for (const [entries, pattern] of cases) {
    const { file } = folder(entries);
    assert.throws(() => readModel(file), pattern, JSON.stringify(entries));
  }
  const { root, file } = folder({ location: 'dir' });
  mkdirSync(join(root, 'model', 'dir'));
  assert.throws(() => readModel(file), /dir: is a folder, expected an external data file/);
});
