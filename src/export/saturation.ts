// Which integer kernels of an optimized model can saturate on x86 CPUs without VNNI. There onnxruntime multiplies
// uint8 by int8 with vpmaddubsw, which adds each two neighbouring products into 16 bits with saturation before
// the 32-bit sum: 255 · (127 + 127) = 64,770 does not fit, and the layer then computes another model than the
// simulation (docs/notes/exactness.md). With VNNI or AMX, on ARM and in wasm the products are summed exactly.
import type { ModelProto, TensorProto } from '../onnx/proto.js';
import { DataType } from '../onnx/proto.js';
import { LAYOUT_OPS } from '../onnx/layout.js';

/** The int8 operand of each integer kernel that multiplies uint8 by int8: its input index. */
const INT8_OPERAND: Readonly<Record<string, number>> = {
  MatMulIntegerToFloat: 1,
  MatMulInteger: 1,
  ConvInteger: 1,
  DynamicQuantizeMatMul: 1,
  QLinearMatMul: 3,
  QLinearConv: 3,
  QGemm: 3,
};

const INT16_MAX = 32767;
const UINT8_MAX = 255;

/**
 * Whether two int8 values of this tensor, wherever the kernel pairs them, can make a 16-bit pair sum overflow
 * with activations up to 255: the two largest positive values, or the two largest negative ones, times 255.
 * Order-free, so it holds for every packing (MatMul, Gemm, im2col or NHWC convolutions).
 */
export function int8PairsCanSaturate(values: Int8Array): boolean {
  let [p1, p2, n1, n2] = [0, 0, 0, 0];
  for (const v of values) {
    if (v > p1) [p1, p2] = [v, p1];
    else if (v > p2) p2 = v;
    if (-v > n1) [n1, n2] = [-v, n1];
    else if (-v > n2) n2 = -v;
  }
  return UINT8_MAX * (p1 + p2) > INT16_MAX || UINT8_MAX * (n1 + n2) > INT16_MAX + 1;
}

/**
 * The nodes of an onnxruntime-optimized model whose uint8 × int8 products can saturate on x86 without VNNI: an
 * int8 weight with values beyond ±64 in pairs, or an int8 operand that is computed at run time (not bounded).
 */
export function saturableKernels(optimized: ModelProto): string[] {
  const graph = optimized.graph;
  if (!graph) return [];
  const constants = new Map<string, TensorProto>((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const int8Outputs = new Set<string>();
  for (const node of graph.node ?? []) {
    const zero = constants.get(node.input?.[2] ?? '');
    const quantizes = node.opType === 'QuantizeLinear' && zero?.dataType === DataType.INT8;
    if (quantizes || (LAYOUT_OPS.has(node.opType ?? '') && int8Outputs.has(node.input?.[0] ?? '')))
      int8Outputs.add(node.output?.[0] ?? '');
  }
  const found: string[] = [];
  for (const node of graph.node ?? []) {
    const index = INT8_OPERAND[node.opType ?? ''];
    const operand = index === undefined ? undefined : node.input?.[index];
    if (!operand) continue;
    const constant = constants.get(operand);
    const saturable = constant
      ? constant.dataType === DataType.INT8 && int8PairsCanSaturate(int8Values(constant))
      : int8Outputs.has(operand);
    if (saturable) found.push(node.name || operand);
  }
  return found;
}

function int8Values(tensor: TensorProto): Int8Array {
  const raw = tensor.rawData;
  if (raw?.length) return new Int8Array(raw.buffer, raw.byteOffset, raw.length);
  return Int8Array.from(tensor.int32Data ?? []);
}
