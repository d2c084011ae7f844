// Which weights can be quantized in blocks: the [K, N] right operand of a MatMul, K a multiple of the block
// (the weights onnxruntime's MatMulNBits multiplies). Calibration and export ask the same question here.
import type { Graph } from '../onnx/graph.js';
import type { QuantPoint } from './points.js';
import { nodeNamed } from '../onnx/lookup.js';

export function blockable(graph: Graph, point: QuantPoint, block: number): boolean {
  const dims = point.dims;
  if (point.kind !== 'weight' || !dims || dims.length !== 2 || point.channelAxis !== 1 || dims[0] % block !== 0)
    return false;
  const node = nodeNamed(graph, point.node);
  return node?.opType === 'MatMul' && node.inputs[1] === point.tensor;
}
