// Every embedding's nearest others by cosine, computed by onnxruntime: a block of queries times the whole bank
// (a MatMul) and the largest of each row (a TopK). rows² × width multiply-adds: in plain JS 10,000 × 384 took 99 s
// (docs/notes/encoders.md).
import { onnx, floatTensor, floatValueInfo, int64Tensor, DataType, type AttributeProto } from '../onnx/proto.js';
import { makeAttribute } from '../onnx/graph.js';
import type { Runner } from '../runtime/runner.js';

/** Bytes of one block's similarity matrix (queries × bank): a block of queries is sized to it. */
const BLOCK_BYTES = 32 << 20;

export interface Neighbours {
  /** Per row, its `count` nearest other rows, nearest first, and their cosine similarities. */
  indices: Int32Array;
  similarity: Float32Array;
  count: number;
}

/** The rows scaled to length 1 (a zero row stays zero). */
export function unitRows(embeddings: Float32Array, rows: number, width: number): Float32Array {
  const unit = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) {
    let norm = 0;
    for (let c = r * width; c < (r + 1) * width; c++) norm += embeddings[c] * embeddings[c];
    const inverse = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let c = r * width; c < (r + 1) * width; c++) unit[c] = embeddings[c] * inverse;
  }
  return unit;
}

/** The bank transposed ([width, rows]) as a weight, and [queries, width] → top `take` similarities and indices. */
function similarityModel(unit: Float32Array, rows: number, width: number, take: number): Uint8Array {
  const bank = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) for (let c = 0; c < width; c++) bank[c * rows + r] = unit[r * width + c];
  const node = (opType: string, input: string[], output: string[], attribute: AttributeProto[] = []) =>
    onnx.NodeProto.create({ opType, input, output, name: output[0], attribute });
  const graph = onnx.GraphProto.create({
    name: 'nearest',
    node: [
      node('MatMul', ['queries', 'bank'], ['similarity']),
      node('TopK', ['similarity', 'take'], ['values', 'order'], [makeAttribute('axis', 1)]),
      node('Cast', ['order'], ['indices'], [makeAttribute('to', DataType.FLOAT)]),
    ],
    initializer: [floatTensor('bank', [width, rows], bank), int64Tensor('take', [1], [take])],
    input: [floatValueInfo('queries', ['queries', width])],
    output: [floatValueInfo('values', ['queries', take]), floatValueInfo('indices', ['queries', take])],
  });
  const model = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph });
  return onnx.ModelProto.encode(model).finish();
}

/** Each row's `k` nearest other rows by cosine (fewer where there are fewer others); ties to the lower index. */
export async function nearestNeighbours(
  runner: Runner,
  embeddings: Float32Array,
  rows: number,
  width: number,
  k: number,
): Promise<Neighbours> {
  const count = Math.min(k, rows - 1);
  const take = Math.min(count + 1, rows);
  const unit = unitRows(embeddings, rows, width);
  const indices = new Int32Array(rows * count);
  const similarity = new Float32Array(rows * count);
  if (count <= 0) return { indices, similarity, count: 0 };
  const session = await runner.createSession(similarityModel(unit, rows, width, take));
  try {
    const block = Math.max(1, Math.floor(BLOCK_BYTES / (4 * rows)));
    for (let start = 0; start < rows; start += block) {
      const end = Math.min(rows, start + block);
      const out = await session.run({
        queries: { data: unit.subarray(start * width, end * width), dims: [end - start, width] },
      });
      for (let q = start; q < end; q++) {
        // The row itself is among its `take` nearest (as the first, or tied); leave it out, else drop the last.
        let kept = 0;
        for (let j = 0; j < take && kept < count; j++) {
          const index = out.indices.data[(q - start) * take + j];
          if (index === q) continue;
          indices[q * count + kept] = index;
          similarity[q * count + kept++] = out.values.data[(q - start) * take + j];
        }
      }
    }
  } finally {
    await session.release();
  }
  return { indices, similarity, count };
}
