// Weight levels as bytes: int8 and ONNX's packed uint4 (integerTensor), and 4-bit levels as the two nibbles of
// uint8 bytes (2-bit levels four to a byte), split back into int8 levels by standard operators on constants
// (BitwiseAnd, BitShift, Concat, Cast from uint8), which onnxruntime's constant folding runs once when it creates
// the session. The file keeps 4 (or 2) bits a weight, and the MatMul then reads an int8 initializer, as in the
// 8-bit export. Unlike a Cast of uint4 (opset 21), every operator and type here is in onnxruntime-web's
// reduced-type wasm build (onnxruntime/wasm/reduced_types.config keeps bool, (u)int8/32/64, float, float16),
// the one transformers.js bundles.
import type { Graph } from '../onnx/graph.js';
import { makeAttribute } from '../onnx/graph.js';
import { NodeBuilder } from '../onnx/builder.js';
import { DataType, int64Tensor, onnx, type TensorProto } from '../onnx/proto.js';
import { GraphError } from '../errors.js';

/** Bits a packed weight level takes: 4 (nibbles, two to a byte) or 2 (four to a byte). */
export type PackedBits = 4 | 2;

/** The fewest packed bits that hold every level: 2 where all are below 4 (2-bit weights), else 4. */
export function packedBits(levels: Uint8Array): PackedBits {
  return levels.every((v) => v < 4) ? 2 : 4;
}

/**
 * Levels (row-major [K, N], each below 2^bits) as bytes [⌈K/parts⌉, N], parts = 8 / bits: row r goes into part
 * ⌊r / ⌈K/parts⌉⌋ of byte row r mod ⌈K/parts⌉, part p in bits p·bits and up. The parts split back by one BitShift
 * and one BitwiseAnd each and rejoin by one Concat on axis 0 (rows past K in the last part are empty, and a Slice
 * drops them). At 4 bits: row r in the low nibble, row r + ⌈K/2⌉ in the high one.
 */
export function packLevels(levels: Uint8Array, dims: readonly number[], bits: PackedBits): Uint8Array {
  const [K, N] = dims;
  if (dims.length !== 2 || levels.length !== K * N)
    throw new RangeError(`packLevels: ${levels.length} levels do not fill [${dims.join(', ')}]`);
  const rows = Math.ceil(K / (8 / bits));
  const packed = new Uint8Array(rows * N);
  for (let i = 0; i < levels.length; i++) {
    if (levels[i] >= 2 ** bits)
      throw new RangeError(`packLevels: level ${levels[i]} at ${i} does not fit ${bits} bits`);
    const row = Math.floor(i / N);
    packed[(row % rows) * N + (i % N)] |= levels[i] << (Math.floor(row / rows) * bits);
  }
  return packed;
}

/** The inverse of packLevels: what the operators unpackLevels writes compute (as 0..2^bits − 1 values). */
export function unpackLevelBytes(packed: Uint8Array, dims: readonly number[], bits: PackedBits): Uint8Array {
  const [K, N] = dims;
  const rows = Math.ceil(K / (8 / bits));
  return Uint8Array.from({ length: K * N }, (_, i) => {
    const row = Math.floor(i / N);
    return (packed[(row % rows) * N + (i % N)] >> (Math.floor(row / rows) * bits)) & (2 ** bits - 1);
  });
}

/**
 * Adds `packed` (packLevels at `bits`) as a uint8 initializer named after `base` and the operators that turn it into
 * the int8 levels [K, N]; returns the name of that int8 tensor. The opset must be 18 or later (BitwiseAnd).
 */
export function unpackLevels(
  graph: Graph,
  base: string,
  packed: Uint8Array,
  dims: readonly number[],
  bits: PackedBits,
): string {
  const [K, N] = dims;
  const parts = 8 / bits;
  const rows = Math.ceil(K / parts);
  if (packed.length !== rows * N)
    throw new GraphError(
      `'${base}': ${packed.length} bytes of ${bits}-bit levels for a [${K}, ${N}] weight, expected ${rows * N}`,
    );
  if (graph.opset < 18)
    throw new GraphError(`'${base}': packed weights need opset 18 (BitwiseAnd), the graph has ${graph.opset}`);
  const bytes = graph.uniqueName(`${base}::${bits === 4 ? 'nibbles' : 'packed2'}`);
  graph.addInitializer(
    onnx.TensorProto.create({ name: bytes, dims: [rows, N], dataType: DataType.UINT8, rawData: packed }),
  );
  const b = new NodeBuilder(graph);
  // uint8 scalars shared by every unpacked weight: the mask of one part, and each part's shift.
  const mask = b.sharedUint8(2 ** bits - 1, `evolq::level_mask_${bits}`);
  const split = Array.from({ length: parts }, (_, p) => {
    const shifted =
      p === 0
        ? bytes
        : b.add({
            opType: 'BitShift',
            inputs: [bytes, b.sharedUint8(p * bits, `evolq::level_shift_${p * bits}`)],
            output: graph.uniqueName(`${base}::shifted${p}`),
            attributes: [makeAttribute('direction', 'RIGHT')],
          });
    // The last part's shift leaves only its own bits.
    if (p === parts - 1 && p > 0) return shifted;
    return b.add({ opType: 'BitwiseAnd', inputs: [shifted, mask], output: graph.uniqueName(`${base}::part${p}`) });
  });
  const joined = graph.uniqueName(`${base}::uint8`);
  b.add({ opType: 'Concat', inputs: split, output: joined, attributes: [makeAttribute('axis', 0)] });
  let kept = joined;
  if (rows * parts !== K) {
    kept = graph.uniqueName(`${base}::rows`);
    graph.addInitializer(int64Tensor(`${kept}::starts`, [1], [0]));
    graph.addInitializer(int64Tensor(`${kept}::ends`, [1], [K]));
    b.add({ opType: 'Slice', inputs: [joined, `${kept}::starts`, `${kept}::ends`], output: kept });
  }
  const levels = graph.uniqueName(`${base}::int8`);
  return b.add({ opType: 'Cast', inputs: [kept], output: levels, attributes: [makeAttribute('to', DataType.INT8)] });
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
