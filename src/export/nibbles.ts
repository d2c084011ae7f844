// Weight levels as bytes: int8 and ONNX's packed uint4 (integerTensor), and 4-bit levels as the two nibbles of
// uint8 bytes, split back into int8 levels by standard operators on constants (BitwiseAnd, BitShift, Concat, Cast from uint8), which onnxruntime's constant folding runs once
// when it creates the session. The file keeps 4 bits a weight, and the MatMul then reads an int8 initializer,
// as in the 8-bit export. Unlike a Cast of uint4 (opset 21), every operator and type here is in onnxruntime-web's
// reduced-type wasm build (onnxruntime/wasm/reduced_types.config keeps bool, (u)int8/32/64, float, float16),
// the one transformers.js bundles.
import type { Graph } from '../onnx/graph.js';
import { makeAttribute } from '../onnx/graph.js';
import { NodeBuilder } from '../onnx/builder.js';
import { DataType, int64Tensor, onnx, type TensorProto } from '../onnx/proto.js';
import { GraphError } from '../errors.js';

/**
 * Levels (row-major [K, N], each 0..15) as bytes [⌈K/2⌉, N]: row r in the low nibble, row r + ⌈K/2⌉ in the
 * high one, so the two halves split back by one BitwiseAnd and one BitShift and rejoin by one Concat on axis 0
 * (an odd K's last byte row has an empty high nibble, which a Slice drops).
 */
export function packNibbles(levels: Uint8Array, dims: readonly number[]): Uint8Array {
  const [K, N] = dims;
  if (dims.length !== 2 || levels.length !== K * N)
    throw new RangeError(`packNibbles: ${levels.length} levels do not fill [${dims.join(', ')}]`);
  const half = Math.ceil(K / 2);
  const packed = new Uint8Array(half * N);
  for (let i = 0; i < levels.length; i++) {
    if (levels[i] > 15) throw new RangeError(`packNibbles: level ${levels[i]} at ${i} does not fit 4 bits`);
    const row = Math.floor(i / N);
    const at = (row % half) * N + (i % N);
    packed[at] |= row < half ? levels[i] : levels[i] << 4;
  }
  return packed;
}

/** The inverse of packNibbles: what the operators unpackNibbles writes compute (as 0..15 values). */
export function unpackNibbleBytes(packed: Uint8Array, dims: readonly number[]): Uint8Array {
  const [K, N] = dims;
  const half = Math.ceil(K / 2);
  return Uint8Array.from({ length: K * N }, (_, i) => {
    const row = Math.floor(i / N);
    const byte = packed[(row % half) * N + (i % N)];
    return row < half ? byte & 15 : byte >> 4;
  });
}

/**
 * Adds `packed` as a uint8 initializer named after `base` and the operators that turn it into the int8 levels
 * [K, N]; returns the name of that int8 tensor. The opset must be 18 or later (BitwiseAnd).
 */
export function unpackNibbles(graph: Graph, base: string, packed: Uint8Array, dims: readonly number[]): string {
  const [K, N] = dims;
  const half = Math.ceil(K / 2);
  if (packed.length !== half * N)
    throw new GraphError(
      `'${base}': ${packed.length} bytes of nibbles for a [${K}, ${N}] weight, expected ${half * N}`,
    );
  if (graph.opset < 18)
    throw new GraphError(`'${base}': nibble weights need opset 18 (BitwiseAnd), the graph has ${graph.opset}`);
  const bytes = graph.uniqueName(`${base}::nibbles`);
  graph.addInitializer(
    onnx.TensorProto.create({ name: bytes, dims: [half, N], dataType: DataType.UINT8, rawData: packed }),
  );
  const b = new NodeBuilder(graph);
  // The uint8 scalars 15 (the low-nibble mask) and 4 (the shift), shared by every unpacked weight.
  const [mask, four] = [b.sharedUint8(15, 'evolq::nibble_mask'), b.sharedUint8(4, 'evolq::nibble_shift')];
  const [low, high, joined] = ['low', 'high', 'uint8'].map((part) => graph.uniqueName(`${base}::${part}`));
  b.add({ opType: 'BitwiseAnd', inputs: [bytes, mask], output: low });
  b.add({ opType: 'BitShift', inputs: [bytes, four], output: high, attributes: [makeAttribute('direction', 'RIGHT')] });
  b.add({ opType: 'Concat', inputs: [low, high], output: joined, attributes: [makeAttribute('axis', 0)] });
  let rows = joined;
  if (K % 2) {
    rows = graph.uniqueName(`${base}::rows`);
    graph.addInitializer(int64Tensor(`${rows}::starts`, [1], [0]));
    graph.addInitializer(int64Tensor(`${rows}::ends`, [1], [K]));
    b.add({ opType: 'Slice', inputs: [joined, `${rows}::starts`, `${rows}::ends`], output: rows });
  }
  const levels = graph.uniqueName(`${base}::int8`);
  return b.add({ opType: 'Cast', inputs: [rows], output: levels, attributes: [makeAttribute('to', DataType.INT8)] });
}

/** uint4 values (packed two per byte, low nibble first) as bytes. */
export function unpackUint4(packed: Uint8Array, count: number): Uint8Array {
  return Uint8Array.from({ length: count }, (_, i) => (i & 1 ? packed[i >> 1] >> 4 : packed[i >> 1] & 15));
}

/** 0..15 values packed two per byte, the first in the low nibble (ONNX's uint4 layout). */
export function packUint4(values: Uint8Array): Uint8Array {
  const packed = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) packed[i >> 1] |= i & 1 ? values[i] << 4 : values[i];
  return packed;
}

/**
 * Levels 0..2^bits − 1 as int8 centred on zero, levels − 2^(bits−1) (with zero points moved alike, the same
 * values: onnxruntime multiplies uint8 by int8 several times faster than uint8 by uint8 on x86, and 7-bit levels
 * stay within −64…63, where its AVX2 kernels cannot saturate), or uint4 packed two per byte, the first element in
 * the low nibble (ONNX's layout).
 */
export function integerTensor(
  name: string,
  dims: readonly number[],
  values: Uint8Array,
  storage: 'int8' | 'uint4',
  bits = storage === 'int8' ? 8 : 4,
): TensorProto {
  const over = values.findIndex((v) => v >= 2 ** bits);
  if (over >= 0) throw new GraphError(`${storage} tensor '${name}': level ${values[over]} does not fit ${bits} bits`);
  if (storage === 'int8') {
    const offset = 2 ** (bits - 1);
    return onnx.TensorProto.create({
      name,
      dims: [...dims],
      dataType: DataType.INT8,
      rawData: values.map((v) => (v - offset) & 0xff),
    });
  }
  return onnx.TensorProto.create({ name, dims: [...dims], dataType: DataType.UINT4, rawData: packUint4(values) });
}
