// MatMuls written as the onnxruntime kernels that run them on integers. Left to itself, onnxruntime's QDQ
// fusion turns DQ(uint8) × DQ(weight) → MatMul into MatMulIntegerToFloat but leaves the bias Add after it
// in float, multiplies uint8 by uint8 (on x86 several times slower than uint8 by int8, which VNNI and AMX
// run), and dequantizes uint4 weights to float at every run. The values do not change: int8 levels are the
// uint8 levels − 128 with zero points − 128, and (with `widenUint4`) 4-bit levels are widened to int8 by
// operators on constants, which onnxruntime folds once when it loads the model: a Cast of the uint4 tensor
// ('cast': opset 21, which the onnxruntime-web build transformers.js 4.3 bundles has no kernel for), or the
// bitwise split of nibbles stored in uint8 bytes ('nibbles', nibbles.ts), which every build has.
import type { Graph, Node } from '../onnx/graph.js';
import { attribute, floatAttribute, intAttribute, makeAttribute } from '../onnx/graph.js';
import { DataType, onnx, tensorDims, toNumber, type TensorProto } from '../onnx/proto.js';
import { NodeBuilder } from '../onnx/builder.js';
import { packLevels, packUint4, packedBits, unpackLevels, unpackUint4, type PackedBits } from './nibbles.js';

export const MICROSOFT = 'com.microsoft';

/** Declares the com.microsoft domain (onnxruntime's contrib operators) in the model's opset imports. */
export function useMicrosoftDomain(graph: Graph): void {
  if (!graph.opsetImport.some((o) => o.domain === MICROSOFT)) graph.opsetImport.push({ domain: MICROSOFT, version: 1 });
}

export const isDefaultDomain = (node: Node) => !node.domain || node.domain === 'ai.onnx';

/** A per-tensor DequantizeLinear of a uint8 activation: its input, scale and zero point. */
export function activationDequantize(graph: Graph, tensor: string): Node | undefined {
  const dq = graph.producer(tensor);
  if (dq?.opType !== 'DequantizeLinear' || attribute(dq, 'axis') || graph.isConstant(dq.inputs[0])) return undefined;
  const zero = graph.initializers.get(dq.inputs[2]);
  const scale = graph.initializers.get(dq.inputs[1]);
  if (zero?.dataType !== DataType.UINT8 || !scale || tensorDims(scale).length !== 0) return undefined;
  return dq;
}

/** A weight's DequantizeLinear, its levels and its zero point. */
interface WeightDequantize {
  dq: Node;
  levels: TensorProto;
  zero: TensorProto;
}

/**
 * A DequantizeLinear of a constant 2-D int8 or uint4 weight, per tensor or per channel on `channelAxis`
 * (MatMul's [K, N] weight: per column).
 */
function weightDequantize(graph: Graph, tensor: string, channelAxis = 1): WeightDequantize | undefined {
  const dq = graph.producer(tensor);
  if (dq?.opType !== 'DequantizeLinear') return undefined;
  const levels = graph.initializers.get(dq.inputs[0]);
  const zero = graph.initializers.get(dq.inputs[2]);
  if (!levels || !zero || tensorDims(levels).length !== 2) return undefined;
  if (levels.dataType !== DataType.INT8 && levels.dataType !== DataType.UINT4) return undefined;
  const axis = attribute(dq, 'axis');
  const perTensor = tensorDims(zero).length === 0;
  const axisValue = axis ? toNumber(axis.i ?? 0) : 1;
  if (!perTensor && (axisValue + 2) % 2 !== channelAxis) return undefined;
  return { dq, levels, zero };
}

/** How 4-bit weights reach an integer MatMul: a Cast of the uint4 tensor, or the split of uint8 nibbles. */
export type Uint4Widening = 'cast' | 'nibbles';

/** A weight stored as packed levels: its bytes, and the bits a level takes. */
export interface PackedWeight {
  bytes: number;
  bits: PackedBits;
}

export interface IntegerMatMuls {
  matMuls: number;
  /** The uint4 weight tensors now stored packed in uint8 (by name): the bytes each now takes, at 4 or 2 bits a level. */
  nibbles: Map<string, PackedWeight>;
}

/**
 * Every MatMul of a quantized activation by a quantized constant weight becomes com.microsoft
 * MatMulIntegerToFloat(A uint8, W int8): (A − a_zp)(W − w_zp) accumulated in int32, times a_scale · w_scale.
 * Without `widenUint4`, MatMuls of uint4 weights stay DequantizeLinear + MatMul.
 */
export function integerMatMuls(graph: Graph, options: { widenUint4?: Uint4Widening }): IntegerMatMuls {
  gemmsAsMatMuls(graph, options);
  let count = 0;
  const nibbles = new Map<string, PackedWeight>();
  const unpacked = new Map<string, string>();
  for (const node of [...graph.nodes]) {
    if (node.opType !== 'MatMul' || !isDefaultDomain(node)) continue;
    const a = activationDequantize(graph, node.inputs[0]);
    const w = weightDequantize(graph, node.inputs[1]);
    if (!a || !w || (w.levels.dataType === DataType.UINT4 && !options.widenUint4)) continue;
    const { levels, zero } =
      w.levels.dataType === DataType.UINT4
        ? widenedUint4(graph, w, options.widenUint4!, { nibbles, unpacked })
        : { levels: w.dq.inputs[0], zero: w.dq.inputs[2] };
    node.opType = 'MatMulIntegerToFloat';
    node.domain = MICROSOFT;
    node.inputs = [a.inputs[0], levels, a.inputs[1], w.dq.inputs[1], a.inputs[2], zero];
    count++;
  }
  if (count) {
    graph.invalidate();
    useMicrosoftDomain(graph);
  }
  return { matMuls: count, nibbles };
}

/**
 * A uint4 weight's levels and zero point as int8 tensors: the levels by a Cast, or split from nibbles (a weight
 * two MatMuls share is stored once: `unpacked` by name, `nibbles` its bytes), the zero point as an initializer.
 */
function widenedUint4(
  graph: Graph,
  w: WeightDequantize,
  widening: Uint4Widening,
  stored: { nibbles: Map<string, PackedWeight>; unpacked: Map<string, string> },
): { levels: string; zero: string } {
  let levels = w.dq.inputs[0];
  const levelDims = tensorDims(w.levels);
  if (widening === 'nibbles') {
    if (!stored.unpacked.has(levels)) {
      const values = unpackUint4(w.levels.rawData!, levelDims[0] * levelDims[1]);
      const bits = packedBits(values);
      const packed = packLevels(values, levelDims, bits);
      stored.nibbles.set(levels, { bytes: packed.length, bits });
      stored.unpacked.set(levels, unpackLevels(graph, levels, packed, levelDims, bits));
    }
    levels = stored.unpacked.get(levels)!;
  } else {
    const cast = graph.uniqueName(`${levels}::int8`);
    const attributes = [makeAttribute('to', DataType.INT8)];
    levels = new NodeBuilder(graph).add({ opType: 'Cast', inputs: [levels], output: cast, attributes });
  }
  return { levels, zero: int8ZeroPoint(graph, w.dq.inputs[2]) };
}

/** A uint4 zero-point initializer as an int8 one (the same values), beside it; returns its name. */
export function int8ZeroPoint(graph: Graph, name: string): string {
  const tensor = graph.initializers.get(name)!;
  const dims = tensorDims(tensor);
  const zero = graph.uniqueName(`${name}::int8`);
  const rawData = unpackUint4(
    tensor.rawData!,
    dims.reduce((x, y) => x * y, 1),
  );
  graph.addInitializer(onnx.TensorProto.create({ name: zero, dims, dataType: DataType.INT8, rawData }));
  return zero;
}

/** `rows × columns` values transposed to `columns × rows`. */
function transposed(values: Uint8Array, rows: number, columns: number): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) out[c * rows + r] = values[r * columns + c];
  return out;
}

/** A Gemm's transposed weight ([N, K], per row) stored transposed ([K, N], per column), read by a new DequantizeLinear. */
function transposedWeight(graph: Graph, w: WeightDequantize): string {
  const [rows, columns] = tensorDims(w.levels);
  const int4 = w.levels.dataType === DataType.UINT4;
  const values = transposed(int4 ? unpackUint4(w.levels.rawData!, rows * columns) : w.levels.rawData!, rows, columns);
  const levels = graph.uniqueName(`${w.dq.inputs[0]}::transposed`);
  graph.addInitializer(
    onnx.TensorProto.create({
      name: levels,
      dims: [columns, rows],
      dataType: w.levels.dataType,
      rawData: int4 ? packUint4(values) : values,
    }),
  );
  const perTensor = tensorDims(w.zero).length === 0;
  return new NodeBuilder(graph).add({
    opType: 'DequantizeLinear',
    inputs: [levels, w.dq.inputs[1], w.dq.inputs[2]],
    output: graph.uniqueName(`${w.dq.outputs[0]}::transposed`),
    attributes: perTensor ? [] : [makeAttribute('axis', 1)],
  });
}

/**
 * A Gemm of a quantized activation by a quantized constant weight becomes MatMul + Add of its bias, which the
 * MatMul pass then writes as an integer kernel with that bias: only plain Gemms (no transA, alpha and beta 1).
 * A transposed weight ([N, K], per row) is stored transposed ([K, N], per column), as MatMul reads it.
 */
function gemmsAsMatMuls(graph: Graph, options: { widenUint4?: Uint4Widening }): void {
  const transposedWeights = new Map<string, string>();
  for (const node of [...graph.nodes]) {
    if (node.opType !== 'Gemm' || !isDefaultDomain(node)) continue;
    if (
      intAttribute(node, 'transA', 0) ||
      floatAttribute(node, 'alpha', 1) !== 1 ||
      floatAttribute(node, 'beta', 1) !== 1
    )
      continue;
    const a = activationDequantize(graph, node.inputs[0]);
    const transB = intAttribute(node, 'transB', 0) !== 0;
    const w = weightDequantize(graph, node.inputs[1], transB ? 0 : 1);
    if (!a || !w || (w.levels.dataType === DataType.UINT4 && !options.widenUint4)) continue;
    let weight = node.inputs[1];
    if (transB) {
      const key = w.dq.outputs[0];
      if (!transposedWeights.has(key)) transposedWeights.set(key, transposedWeight(graph, w));
      weight = transposedWeights.get(key)!;
    }
    const bias = node.inputs[2];
    const product = bias ? graph.uniqueName(`${node.outputs[0]}::product`) : node.outputs[0];
    if (bias)
      new NodeBuilder(graph).add({
        opType: 'Add',
        inputs: [product, bias],
        output: node.outputs[0],
        name: graph.uniqueName(`${node.name}::bias`),
      });
    node.opType = 'MatMul';
    node.inputs = [node.inputs[0], weight];
    node.outputs = [product];
    node.attributes = [];
    graph.invalidate();
  }
}

/**
 * The initializer a constant weight is computed from at load (through a Cast, or the nibble split): its last
 * dimension is the weight's width.
 */
function storedWeight(graph: Graph, tensor: string): TensorProto | undefined {
  for (let name = tensor, steps = 0; steps < 8; steps++) {
    const initializer = graph.initializers.get(name);
    if (initializer) return initializer;
    const producer = graph.producer(name);
    if (!producer) return undefined;
    name = producer.inputs[0];
  }
  return undefined;
}

/** Where each fused kernel takes its bias, and its output width. */
const BIAS_INPUT: Record<string, { index: number; width: (graph: Graph, node: Node) => number | undefined }> = {
  MatMulIntegerToFloat: {
    index: 6,
    width: (graph, node) => {
      const w = storedWeight(graph, node.inputs[1]);
      return w ? tensorDims(w).at(-1) : undefined;
    },
  },
  MatMulNBits: { index: 5, width: (_graph, node) => toNumber(attribute(node, 'N')?.i ?? 0) || undefined },
};

/** The Add of a constant [N] bias after an integer MatMul moves into the kernel, which adds it as it writes the output. */
export function fuseBiasAdds(graph: Graph): number {
  let count = 0;
  for (const node of [...graph.nodes]) {
    const bias = node.domain === MICROSOFT ? BIAS_INPUT[node.opType] : undefined;
    if (!bias || node.inputs[bias.index]) continue;
    const output = node.outputs[0];
    const consumers = graph.consumers(output);
    if (consumers.length !== 1 || graph.isGraphOutput(output)) continue;
    const [add] = consumers;
    if (add.opType !== 'Add' || !isDefaultDomain(add) || add.inputs.length !== 2 || add.inputs[0] === add.inputs[1])
      continue;
    const vector = add.inputs.find((t) => t !== output)!;
    const source = graph.constantSource(vector);
    const width = bias.width(graph, node);
    if (
      !source ||
      source.dataType !== DataType.FLOAT ||
      tensorDims(source).length !== 1 ||
      tensorDims(source)[0] !== width
    )
      continue;
    while (node.inputs.length < bias.index) node.inputs.push('');
    node.inputs[bias.index] = vector;
    node.outputs = [...add.outputs];
    graph.nodes = graph.nodes.filter((n) => n !== add);
    graph.invalidate();
    count++;
  }
  return count;
}
