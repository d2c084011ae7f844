// 4-bit Conv weights in a form onnxruntime fuses into QLinearConv. It fuses DequantizeLinear → Conv →
// QuantizeLinear only when the weight is 8-bit: a uint4 weight is dequantized to float at every run and the Conv
// runs in float. Stored as nibbles of uint8 bytes (nibbles.ts) and widened to int8 by operators on constants,
// which onnxruntime folds when it loads the model, the file keeps 4 bits a weight and the Conv reads an int8
// initializer, as at 8 bits. The values do not change.
import type { Graph, Node } from '../onnx/graph.js';
import { attribute } from '../onnx/graph.js';
import { DataType, int64Tensor, tensorDims, toNumber } from '../onnx/proto.js';
import { NodeBuilder } from '../onnx/builder.js';
import { packLevels, packedBits, unpackLevels, unpackUint4 } from './nibbles.js';
import { activationDequantize, int8ZeroPoint, isDefaultDomain, type PackedWeight } from './integer-kernels.js';

/** The DequantizeLinear of a constant uint4 Conv weight [M, C/group, k…] reading an initializer. */
function uint4WeightDequantize(graph: Graph, tensor: string): Node | undefined {
  const dq = graph.producer(tensor);
  if (dq?.opType !== 'DequantizeLinear') return undefined;
  const levels = graph.initializers.get(dq.inputs[0]);
  const zero = graph.initializers.get(dq.inputs[2]);
  if (levels?.dataType !== DataType.UINT4 || zero?.dataType !== DataType.UINT4) return undefined;
  const axis = attribute(dq, 'axis');
  if (tensorDims(zero).length !== 0 && toNumber(axis?.i ?? 1) !== 0) return undefined;
  return tensorDims(levels).length >= 3 ? dq : undefined;
}

/**
 * Every Conv of a quantized activation by a uint4 weight reads that weight as int8 levels split from nibbles: its
 * DequantizeLinear keeps its scales and reads the int8 levels and an int8 zero point (the same values). A weight
 * several Convs share is stored once. Returns the uint4 weights now stored as nibbles and their bytes.
 */
export function integerConvs(graph: Graph): Map<string, PackedWeight> {
  const nibbles = new Map<string, PackedWeight>();
  const widened = new Map<string, { levels: string; zero: string }>();
  for (const node of [...graph.nodes]) {
    if (node.opType !== 'Conv' || !isDefaultDomain(node) || !activationDequantize(graph, node.inputs[0])) continue;
    const dq = uint4WeightDequantize(graph, node.inputs[1]);
    if (!dq) continue;
    const key = dq.inputs[0];
    if (!widened.has(key)) widened.set(key, widen(graph, dq, nibbles));
    const { levels, zero } = widened.get(key)!;
    dq.inputs = [levels, dq.inputs[1], zero];
    graph.invalidate();
  }
  return nibbles;
}

/** A uint4 weight [M, …] as nibbles of [M, rest] reshaped back, and its zero point as an int8 initializer. */
function widen(graph: Graph, dq: Node, nibbles: Map<string, PackedWeight>): { levels: string; zero: string } {
  const stored = graph.initializers.get(dq.inputs[0])!;
  const dims = tensorDims(stored);
  const rows = dims[0];
  const count = dims.reduce((x, y) => x * y, 1);
  const flat = [rows, count / rows];
  const values = unpackUint4(stored.rawData!, count);
  const bits = packedBits(values);
  const packed = packLevels(values, flat, bits);
  nibbles.set(dq.inputs[0], { bytes: packed.length, bits });
  const int8 = unpackLevels(graph, dq.inputs[0], packed, flat, bits);
  const shape = graph.uniqueName(`${dq.inputs[0]}::shape`);
  graph.addInitializer(int64Tensor(shape, [dims.length], dims));
  const levels = new NodeBuilder(graph).add({
    opType: 'Reshape',
    inputs: [int8, shape],
    output: graph.uniqueName(`${dq.inputs[0]}::levels`),
  });
  return { levels, zero: int8ZeroPoint(graph, dq.inputs[2]) };
}
