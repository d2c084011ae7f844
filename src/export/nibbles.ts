// 4-bit weight levels as the two nibbles of uint8 bytes, split back into int8 levels by standard operators on
// constants (BitwiseAnd, BitShift, Concat, Cast from uint8), which onnxruntime's constant folding runs once
// when it creates the session. The file keeps 4 bits a weight, and the MatMul then reads an int8 initializer,
// as in the 8-bit export. Unlike a Cast of uint4 (opset 21), every operator and type here is in onnxruntime-web's
// reduced-type wasm build (onnxruntime/wasm/reduced_types.config keeps bool, (u)int8/32/64, float, float16),
// the one transformers.js bundles.
import type { Graph } from '../onnx/graph.js';
import { makeAttribute } from '../onnx/graph.js';
import { DataType, int64Tensor, onnx } from '../onnx/proto.js';
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
  const [mask, four] = nibbleConstants(graph);
  const low = graph.uniqueName(`${base}::low`);
  const high = graph.uniqueName(`${base}::high`);
  const joined = graph.uniqueName(`${base}::uint8`);
  graph.addNode({ name: low, opType: 'BitwiseAnd', domain: '', inputs: [bytes, mask], outputs: [low], attributes: [] });
  graph.addNode({
    name: high,
    opType: 'BitShift',
    domain: '',
    inputs: [bytes, four],
    outputs: [high],
    attributes: [makeAttribute('direction', 'RIGHT')],
  });
  graph.addNode({
    name: joined,
    opType: 'Concat',
    domain: '',
    inputs: [low, high],
    outputs: [joined],
    attributes: [makeAttribute('axis', 0)],
  });
  let rows = joined;
  if (K % 2) {
    rows = graph.uniqueName(`${base}::rows`);
    graph.addInitializer(int64Tensor(`${rows}::starts`, [1], [0]));
    graph.addInitializer(int64Tensor(`${rows}::ends`, [1], [K]));
    graph.addNode({
      name: rows,
      opType: 'Slice',
      domain: '',
      inputs: [joined, `${rows}::starts`, `${rows}::ends`],
      outputs: [rows],
      attributes: [],
    });
  }
  const levels = graph.uniqueName(`${base}::int8`);
  graph.addNode({
    name: levels,
    opType: 'Cast',
    domain: '',
    inputs: [rows],
    outputs: [levels],
    attributes: [makeAttribute('to', DataType.INT8)],
  });
  return levels;
}

/** The uint8 scalars 15 (the low-nibble mask) and 4 (the shift), shared by every unpacked weight. */
function nibbleConstants(graph: Graph): [string, string] {
  const names: [string, string] = ['evolq::nibble_mask', 'evolq::nibble_shift'];
  for (const [name, value] of [
    [names[0], 15],
    [names[1], 4],
  ] as const) {
    if (!graph.initializers.has(name))
      graph.addInitializer(
        onnx.TensorProto.create({ name, dims: [], dataType: DataType.UINT8, rawData: Uint8Array.of(value) }),
      );
  }
  return names;
}
