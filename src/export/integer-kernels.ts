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
import { packNibbles, unpackNibbles } from './nibbles.js';

export const MICROSOFT = 'com.microsoft';

/** Declares the com.microsoft domain (onnxruntime's contrib operators) in the model's opset imports. */
export function useMicrosoftDomain(graph: Graph): void {
  if (!graph.opsetImport.some((o) => o.domain === MICROSOFT)) graph.opsetImport.push({ domain: MICROSOFT, version: 1 });
}

// Ops a quantized tensor passes through unchanged on its way to a MatMul.
const LAYOUT_OPS = new Set(['Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Flatten', 'Identity']);

const isDefaultDomain = (node: Node) => !node.domain || node.domain === 'ai.onnx';

/** A per-tensor DequantizeLinear of a uint8 activation: its input, scale and zero point. */
function activationDequantize(graph: Graph, tensor: string): Node | undefined {
  const dq = graph.producer(tensor);
  if (dq?.opType !== 'DequantizeLinear' || attribute(dq, 'axis') || graph.isConstant(dq.inputs[0])) return undefined;
  const zero = graph.initializers.get(dq.inputs[2]);
  const scale = graph.initializers.get(dq.inputs[1]);
  if (zero?.dataType !== DataType.UINT8 || !scale || tensorDims(scale).length !== 0) return undefined;
  return dq;
}

/**
 * A DequantizeLinear of a constant 2-D int8 or uint4 weight, per tensor or per channel on `channelAxis`
 * (MatMul's [K, N] weight: per column).
 */
function weightDequantize(
  graph: Graph,
  tensor: string,
  channelAxis = 1,
): { dq: Node; levels: TensorProto; zero: TensorProto } | undefined {
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

/** uint4 values (packed two per byte, low nibble first) as int8 bytes. */
function unpackUint4(packed: Uint8Array, count: number): Uint8Array {
  return Uint8Array.from({ length: count }, (_, i) => (i & 1 ? packed[i >> 1] >> 4 : packed[i >> 1] & 15));
}

/** 0..15 values packed two per byte, the first in the low nibble (ONNX's uint4 layout). */
export function packUint4(values: Uint8Array): Uint8Array {
  const packed = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) packed[i >> 1] |= i & 1 ? values[i] << 4 : values[i];
  return packed;
}

/** How 4-bit weights reach an integer MatMul: a Cast of the uint4 tensor, or the split of uint8 nibbles. */
export type Uint4Widening = 'cast' | 'nibbles';

export interface IntegerMatMuls {
  matMuls: number;
  /** The uint4 weight tensors now stored as nibbles of uint8 (by name), and the bytes each now takes. */
  nibbles: Map<string, number>;
}

/**
 * Every MatMul of a quantized activation by a quantized constant weight becomes com.microsoft
 * MatMulIntegerToFloat(A uint8, W int8): (A − a_zp)(W − w_zp) accumulated in int32, times a_scale · w_scale.
 * Without `widenUint4`, MatMuls of uint4 weights stay DequantizeLinear + MatMul.
 */
export function integerMatMuls(graph: Graph, options: { widenUint4?: Uint4Widening }): IntegerMatMuls {
  gemmsAsMatMuls(graph, options);
  let count = 0;
  const nibbles = new Map<string, number>();
  const unpacked = new Map<string, string>();
  for (const node of [...graph.nodes]) {
    if (node.opType !== 'MatMul' || !isDefaultDomain(node)) continue;
    const a = activationDequantize(graph, node.inputs[0]);
    const w = weightDequantize(graph, node.inputs[1]);
    if (!a || !w || (w.levels.dataType === DataType.UINT4 && !options.widenUint4)) continue;
    let levels = w.dq.inputs[0];
    let zero = w.dq.inputs[2];
    if (w.levels.dataType === DataType.UINT4) {
      const levelDims = tensorDims(w.levels);
      if (options.widenUint4 === 'nibbles') {
        // A weight two MatMuls share is stored once.
        if (!unpacked.has(levels)) {
          const packed = packNibbles(unpackUint4(w.levels.rawData!, levelDims[0] * levelDims[1]), levelDims);
          nibbles.set(levels, packed.length);
          unpacked.set(levels, unpackNibbles(graph, levels, packed, levelDims));
        }
        levels = unpacked.get(levels)!;
      } else {
        const cast = graph.uniqueName(`${levels}::int8`);
        graph.addNode({
          name: cast,
          opType: 'Cast',
          domain: '',
          inputs: [levels],
          outputs: [cast],
          attributes: [makeAttribute('to', DataType.INT8)],
        });
        levels = cast;
      }
      const dims = tensorDims(w.zero);
      zero = graph.uniqueName(`${zero}::int8`);
      graph.addInitializer(
        onnx.TensorProto.create({
          name: zero,
          dims,
          dataType: DataType.INT8,
          rawData: unpackUint4(
            w.zero.rawData!,
            dims.reduce((x, y) => x * y, 1),
          ),
        }),
      );
    }
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

/** `rows × columns` values transposed to `columns × rows`. */
function transposed(values: Uint8Array, rows: number, columns: number): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) out[c * rows + r] = values[r * columns + c];
  return out;
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
      if (!transposedWeights.has(key)) {
        const [rows, columns] = tensorDims(w.levels);
        const int4 = w.levels.dataType === DataType.UINT4;
        const values = transposed(
          int4 ? unpackUint4(w.levels.rawData!, rows * columns) : w.levels.rawData!,
          rows,
          columns,
        );
        const levels = graph.uniqueName(`${w.dq.inputs[0]}::transposed`);
        graph.addInitializer(
          onnx.TensorProto.create({
            name: levels,
            dims: [columns, rows],
            dataType: w.levels.dataType,
            rawData: int4 ? packUint4(values) : values,
          }),
        );
        const output = graph.uniqueName(`${key}::transposed`);
        const perTensor = tensorDims(w.zero).length === 0;
        graph.addNode({
          name: output,
          opType: 'DequantizeLinear',
          domain: '',
          inputs: [levels, w.dq.inputs[1], w.dq.inputs[2]],
          outputs: [output],
          attributes: perTensor ? [] : [makeAttribute('axis', 1)],
        });
        transposedWeights.set(key, output);
      }
      weight = transposedWeights.get(key)!;
    }
    const bias = node.inputs[2];
    const product = bias ? graph.uniqueName(`${node.outputs[0]}::product`) : node.outputs[0];
    if (bias)
      graph.addNode({
        name: graph.uniqueName(`${node.name}::bias`),
        opType: 'Add',
        domain: '',
        inputs: [product, bias],
        outputs: [node.outputs[0]],
        attributes: [],
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

/** Whether a tensor reaches only the right operands of activation × activation MatMuls, through layout ops. */
function onlyRightOperands(graph: Graph, tensor: string): boolean {
  if (graph.isGraphOutput(tensor)) return false;
  const consumers = graph.consumers(tensor);
  return (
    consumers.length > 0 &&
    consumers.every((n) => {
      if (LAYOUT_OPS.has(n.opType) && isDefaultDomain(n) && n.inputs[0] === tensor)
        return onlyRightOperands(graph, n.outputs[0]);
      return n.opType === 'MatMul' && isDefaultDomain(n) && n.inputs[1] === tensor && n.inputs[0] !== tensor;
    })
  );
}

/**
 * The 8-bit activations that are only ever right operands of MatMuls (K and V in attention) are quantized to
 * int8 with zero point − 128: the same values, and onnxruntime then runs QLinearMatMul and
 * MatMulIntegerToFloat as uint8 × int8.
 */
export function signedRightOperands(graph: Graph): number {
  let count = 0;
  for (const q of graph.nodes) {
    if (q.opType !== 'QuantizeLinear' || !isDefaultDomain(q)) continue;
    const zero = graph.initializers.get(q.inputs[2] ?? '');
    if (zero?.dataType !== DataType.UINT8 || tensorDims(zero).length !== 0) continue;
    const dequantizers = graph.consumers(q.outputs[0]);
    if (graph.isGraphOutput(q.outputs[0]) || !dequantizers.length) continue;
    if (
      !dequantizers.every(
        (dq) =>
          dq.opType === 'DequantizeLinear' &&
          dq.inputs[0] === q.outputs[0] &&
          dq.inputs[2] === q.inputs[2] &&
          onlyRightOperands(graph, dq.outputs[0]),
      )
    )
      continue;
    const signed = graph.uniqueName(`${q.inputs[2]}::int8`);
    graph.addInitializer(
      onnx.TensorProto.create({
        name: signed,
        dims: [],
        dataType: DataType.INT8,
        rawData: Uint8Array.of((zero.rawData![0] - 128) & 0xff),
      }),
    );
    q.inputs[2] = signed;
    for (const dq of dequantizers) dq.inputs[2] = signed;
    count++;
  }
  if (count) graph.invalidate();
  return count;
}
