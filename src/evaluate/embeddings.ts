// An image encoder's output as one vector per image, and what evaluation measures on those vectors: cosine
// similarity to the float model's and the top-1 of a k-nearest-neighbour classifier over the evaluated images.
import type { FloatTensor, Runner } from '../runtime/runner.js';
import { nearestNeighbours, type Neighbours } from './nearest.js';
import { DataError } from '../errors.js';

/** One row per image: the output itself where it is [batch, width], else its mean over the middle axes (tokens). */
export function pooledRows(
  data: Float32Array,
  dims: readonly number[],
): { data: Float32Array; rows: number; width: number } {
  const rows = dims[0];
  const width = dims[dims.length - 1];
  if (dims.length <= 2) return { data, rows, width };
  const tokens = data.length / (rows * width);
  const pooled = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++)
    for (let t = 0; t < tokens; t++) {
      const at = (r * tokens + t) * width;
      for (let c = 0; c < width; c++) pooled[r * width + c] += data[at + c] / tokens;
    }
  return { data: pooled, rows, width };
}

/**
 * A model output as one row per image ([batch, tokens, width] pooled to [batch, width]): the fitness keeps its
 * reference outputs so (ViT-B's last_hidden_state at 224 px for 1,200 images would be 726 MB, pooled 3.7 MB).
 */
export function pooledTensor(output: FloatTensor): FloatTensor {
  if (output.dims.length <= 2) return output;
  const { data, rows, width } = pooledRows(output.data, output.dims);
  return { data, dims: [rows, width] };
}

/** The cosine similarity of row r of `a` and of `b` ([rows, width] each); 0 where either row is all zeros. */
export function rowCosine(a: ArrayLike<number>, b: ArrayLike<number>, r: number, width: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let c = r * width; c < (r + 1) * width; c++) {
    dot += a[c] * b[c];
    na += a[c] * a[c];
    nb += b[c] * b[c];
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

/** Neighbours each image's label is voted by, and the temperature of their exp(cosine / T) weights (DINO's k-NN). */
export const KNN_NEIGHBOURS = 20;
export const KNN_TEMPERATURE = 0.07;

export interface KnnResult {
  /** Per image: the voted label. */
  predicted: Int32Array;
  /** Per image: 1 where the voted label is the image's. */
  correct: Uint8Array;
  top1: number;
  /** The share of images whose label is among the 5 labels with the most vote weight. */
  top5: number;
}

/**
 * Leave-one-out weighted k-NN over `rows` embeddings ([rows, width]) with their labels: each image's label is voted
 * by its `k` most cosine-similar other images, each with weight exp(cosine / T) (Wu et al. 2018, as DINO evaluates).
 * The neighbours are found by onnxruntime (src/evaluate/nearest.ts).
 */
export async function knnClassify(
  runner: Runner,
  embeddings: Float32Array,
  rows: number,
  width: number,
  labels: Int32Array,
  k = KNN_NEIGHBOURS,
): Promise<KnnResult> {
  if (rows < 2)
    throw new DataError(
      `k-NN top-1 needs at least 2 labelled images (each is voted by the others); the evaluation has ${rows}`,
    );
  return knnVote(await nearestNeighbours(runner, embeddings, rows, width, k), labels);
}

/** The weighted vote of each image's neighbours, against its own label. */
export function knnVote({ indices, similarity, count }: Neighbours, labels: Int32Array): KnnResult {
  const rows = labels.length;
  const classes = labels.reduce((a, b) => Math.max(a, b), 0) + 1;
  const predicted = new Int32Array(rows);
  const correct = new Uint8Array(rows);
  let top5 = 0;
  const votes = new Float64Array(classes);
  for (let q = 0; q < rows; q++) {
    votes.fill(0);
    for (let j = q * count; j < (q + 1) * count; j++)
      votes[labels[indices[j]]] += Math.exp((similarity[j] - 1) / KNN_TEMPERATURE);
    const order = Array.from(votes.keys()).sort((a, b) => votes[b] - votes[a] || a - b);
    predicted[q] = order[0];
    correct[q] = order[0] === labels[q] && votes[order[0]] > 0 ? 1 : 0;
    if (votes[labels[q]] > 0 && order.indexOf(labels[q]) < 5) top5++;
  }
  const hits = correct.reduce((a, b) => a + b, 0);
  return { predicted, correct, top1: rows ? hits / rows : 0, top5: rows ? top5 / rows : 0 };
}
