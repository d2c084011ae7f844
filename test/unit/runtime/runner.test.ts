import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OrtRunner, checkDevice, executionProviders } from '../../../src/runtime/runner.js';
import { buildModel, bytesOf } from '../../helpers.js';
import { onnx } from '../../../src/onnx/proto.js';

test('--device is checked against the providers of the installed onnxruntime-node, naming them', () => {
  const providers = executionProviders();
  assert.ok(providers.some((p) => p.name === 'cpu' && p.usable));
  assert.throws(
    () => new OrtRunner({ device: 'tpu' }),
    new RegExp(`Unsupported runtime\\.device: "tpu". Should be one of: ${providers.map((p) => p.name).join(', ')}\\.`),
  );
  for (const missing of providers.filter((p) => !p.usable)) {
    assert.throws(
      () => checkDevice(missing.name),
      new RegExp(
        `runtime\\.device ${missing.name}: this onnxruntime-node was installed without its ${missing.name} provider.*npm rebuild onnxruntime-node`,
      ),
    );
  }
  assert.throws(() => new OrtRunner({ threads: 0 }), /runtime\.threads must be an integer >= 1/);
  assert.throws(
    () => new OrtRunner({ threads: 1000 }),
    /runtime\.threads 1000 is more than 4× this machine's \d+ cores/,
  );
  assert.deepEqual(
    { ...new OrtRunner({ threads: 1 }).report, onnxruntime: 'x' },
    { device: 'cpu', threads: 1, onnxruntime: 'x' },
  );
});

test('a non-float output is an error naming it, not silently dropped', async () => {
  const model = buildModel({
    inputs: [{ name: 'x', shape: [2, 3] }],
    outputs: ['y', 'index'],
    nodes: [
      { op: 'Relu', inputs: ['x'], outputs: ['y'] },
      { op: 'ArgMax', inputs: ['x'], outputs: ['index'], attrs: { axis: 1 } },
    ],
  });
  model.graph!.output![1].type!.tensorType!.elemType = onnx.TensorProto.DataType.INT64;
  const session = await new OrtRunner().createSession(bytesOf(model));
  try {
    const x = { data: Float32Array.of(1, -2, 3, 4, 5, -6), dims: [2, 3] };
    assert.deepEqual(Array.from((await session.run({ x }, ['y'])).y.data), [1, 0, 3, 4, 5, 0]);
    await assert.rejects(session.run({ x }), /output 'index' is int64; evolq reads float32 outputs/);
  } finally {
    await session.release();
  }
});
