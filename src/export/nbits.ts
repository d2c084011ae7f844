// Blocked 4-bit weights as onnxruntime's com.microsoft MatMulNBits (the kernel transformers.js's q4 models
// use, in onnxruntime-node and -web): B [N, K / block, block / 2] with two levels a byte (low nibble first),
// scales [N, K / block], zero points packed the same way, one row per output channel.
import type { Graph, Node } from '../onnx/graph.js';
import { makeAttribute } from '../onnx/graph.js';
import { DataType, floatTensor, onnx } from '../onnx/proto.js';
import { GraphError } from '../errors.js';
import type { UniformParams } from '../quant/scheme.js';
import { MICROSOFT, useMicrosoftDomain } from './integer-kernels.js';

/**
 * Rewrites `node` (a MatMul by a [K, N] weight with blocked params) as MatMulNBits over `levels` (row-major
 * [K, N], 0..15). accuracy_level 0 multiplies in float32 what the simulation multiplies: its dequantized
 * weights. Returns the bytes of packed levels.
 */
export function matMulNBits(
  graph: Graph,
  node: Node,
  levels: Uint8Array,
  dims: readonly number[],
  p: UniformParams,
): number {
  const [K, N] = dims;
  const { size, blocks } = p.block!;
  if (node.opType !== 'MatMul' || size % 2 || blocks * size !== K)
    throw new GraphError(`'${node.name}': blocks of ${size} do not tile a ${K}-row MatMul weight`, node.name);
  const half = size / 2;
  const packed = new Uint8Array(N * blocks * half);
  const scales = new Float32Array(N * blocks);
  const zeroBytes = Math.ceil(blocks / 2);
  const zeros = new Uint8Array(N * zeroBytes);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      scales[n * blocks + b] = p.scale[b * N + n];
      zeros[n * zeroBytes + (b >> 1)] |= p.zeroPoint[b * N + n] << (b & 1 ? 4 : 0);
      const row = (n * blocks + b) * half;
      for (let j = 0; j < size; j++) {
        const level = levels[(b * size + j) * N + n];
        if (level > 15) throw new GraphError(`'${node.name}': level ${level} does not fit 4 bits`, node.name);
        packed[row + (j >> 1)] |= level << (j & 1 ? 4 : 0);
      }
    }
  }
  const base = graph.uniqueName(`${node.name}::nbits`);
  graph.addInitializer(
    onnx.TensorProto.create({ name: `${base}::B`, dims: [N, blocks, half], dataType: DataType.UINT8, rawData: packed }),
  );
  graph.addInitializer(floatTensor(`${base}::scales`, [N, blocks], scales));
  graph.addInitializer(
    onnx.TensorProto.create({
      name: `${base}::zero_points`,
      dims: [N, zeroBytes],
      dataType: DataType.UINT8,
      rawData: zeros,
    }),
  );
  node.opType = 'MatMulNBits';
  node.domain = MICROSOFT;
  node.inputs = [node.inputs[0], `${base}::B`, `${base}::scales`, `${base}::zero_points`];
  node.attributes = [
    makeAttribute('K', K),
    makeAttribute('N', N),
    makeAttribute('bits', 4),
    makeAttribute('block_size', size),
    makeAttribute('accuracy_level', 0),
  ];
  graph.invalidate();
  useMicrosoftDomain(graph);
  return packed.length;
}
