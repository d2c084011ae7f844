// Run by test/e2e/avx2.test.ts under qemu's AVX2-only CPU (qemu-x86_64 -cpu EPYC-Rome): computes, with the
// onnxruntime-node this emulated CPU gets, the worst-case layer on 7-bit and on full-range levels, a uint8 × uint8
// and a uint8 × int8 MatMulInteger of activations at 255, and the models named on the command line on the feed
// file beside them. Prints one JSON object.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { onnx } from '../src/onnx/proto.js';
import { defaultRunner } from '../src/runtime/runner.js';
import { runModel } from './helpers.js';
import { worstCaseLayer } from './worst-case.js';

const K = 768;

/** MatMulInteger of two run-time operands, A uint8 [1, K] and B uint8 or int8 [K, 1]: attention's Q · Kᵀ form. */
async function activationProduct(bType: 'uint8' | 'int8', b: number): Promise<number> {
  const type = bType === 'uint8' ? onnx.TensorProto.DataType.UINT8 : onnx.TensorProto.DataType.INT8;
  const input = (name: string, elemType: number, dims: number[]) => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((dimValue) => ({ dimValue })) } } },
  });
  const model = onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'product',
        node: [{ opType: 'MatMulInteger', input: ['a', 'b'], output: ['y'], name: 'product' }],
        input: [input('a', onnx.TensorProto.DataType.UINT8, [1, K]), input('b', type, [K, 1])],
        output: [{ name: 'y', type: { tensorType: { elemType: onnx.TensorProto.DataType.INT32 } } }],
      },
    }),
  ).finish();
  const session = await ort.InferenceSession.create(model);
  const bValues = bType === 'uint8' ? new Uint8Array(K).fill(b) : new Int8Array(K).fill(b);
  const result = await session.run({
    a: new ort.Tensor('uint8', new Uint8Array(K).fill(255), [1, K]),
    b: new ort.Tensor(bType, bValues, [K, 1]),
  });
  return Number(result.y.data[0]);
}

const [feedFile, ...models] = process.argv.slice(2);
const worstCase: Record<string, number[]> = {};
for (const reduceRange of [true, false]) {
  const layer = await worstCaseLayer(reduceRange);
  worstCase[reduceRange ? 'reduced' : 'full'] = Array.from((await runModel(layer.model, { x: layer.input })).y.data);
}
const products = { uint8: await activationProduct('uint8', 255), int8: await activationProduct('int8', 127) };
const outputs: number[][] = [];
if (feedFile) {
  const feed = JSON.parse(readFileSync(feedFile, 'utf8')) as { name: string; dims: number[]; data: number[] };
  for (const file of models) {
    const session = await defaultRunner.createSession(file);
    const result = await session.run({ [feed.name]: { data: Float32Array.from(feed.data), dims: feed.dims } });
    outputs.push(Array.from(Object.values(result)[0].data));
    await session.release();
  }
}
process.stdout.write(JSON.stringify({ worstCase, products, outputs }));
