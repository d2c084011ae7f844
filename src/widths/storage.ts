// What each weight takes in model.onnx at each width, read from exports built at that width for every weight:
// the bytes of the initializers written for the point (its levels, packed or not, scales and zero points), and
// what the rest of the file takes, which no width changes.
import { onnx } from '../onnx/proto.js';
import { FLOAT_WIDTH } from '../quant/scheme.js';

/** A weight point as storage reads it: its id, and the float weight it quantizes. */
export interface StoredWeight {
  id: string;
  tensor: string;
}

/**
 * Bytes of the initializers a model file holds for each point: those named `<point id>::…` (uniform.ts names
 * them so), or its float weight itself where the layer is kept float; read back from the file, which holds only
 * what its nodes read.
 */
export function pointBytes(file: Uint8Array, weights: readonly StoredWeight[]): Record<string, number> {
  const bytes: Record<string, number> = Object.fromEntries(weights.map((w) => [w.id, 0]));
  const floatOf = new Map(weights.map((w) => [w.tensor, w.id]));
  for (const tensor of onnx.ModelProto.decode(file).graph?.initializer ?? []) {
    const name = tensor.name ?? '';
    const id = floatOf.get(name) ?? name.slice(0, name.indexOf('::'));
    if (id in bytes) bytes[id] += onnx.TensorProto.encode(tensor).finish().length;
  }
  return bytes;
}

export interface WidthStorage {
  /** Per point id, per width: its bytes. */
  bytes: Record<string, Record<number, number>>;
  /** The file's bytes that are no point's. */
  rest: number;
}

/**
 * Per-point bytes from one export per width, all points at that width; `rest` from the first (widest) one. The
 * prediction is exact for uniform widths and close for mixed ones (the export of an assignment is measured).
 */
export function widthStorage(
  exports: readonly { bits: number; file: Uint8Array }[],
  weights: readonly StoredWeight[],
): WidthStorage {
  const ids = weights.map((w) => w.id);
  const bytes: Record<string, Record<number, number>> = Object.fromEntries(ids.map((id) => [id, {}]));
  const rests = exports.map(({ bits, file }) => {
    const held = pointBytes(file, weights);
    for (const id of ids) bytes[id][bits] = held[id];
    return file.length - ids.reduce((n, id) => n + held[id], 0);
  });
  // The nodes that unpack narrow levels are no initializer, and float layers drop their inputs' quantizers: what
  // that changes in the rest is shared among the points. The rest is the widest integer width's.
  const base = exports.findIndex((e) => e.bits !== FLOAT_WIDTH);
  for (const [e, { bits }] of exports.entries())
    for (const id of ids) bytes[id][bits] += (rests[e] - rests[base]) / Math.max(1, ids.length);
  return { bytes, rest: rests[base] };
}

/** The file's predicted bytes with each point at its width. */
export function predictedBytes(storage: WidthStorage, widths: Readonly<Record<string, number>>): number {
  return Object.entries(widths).reduce((n, [id, bits]) => n + storage.bytes[id][bits], storage.rest);
}
