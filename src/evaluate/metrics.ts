// Top-k accuracy from logits.

export interface Accuracy {
  /**
   * Top-1 and top-5 against the images' labels, of the class logits or, for an image encoder, of the k-NN classifier
   * over its embeddings of the evaluated images; null for unlabeled images.
   */
  top1: number | null;
  top5: number | null;
  n: number;
  /**
   * Against the float model on the same images: a classifier's mean KL(softmax(float) ‖ softmax(this)) and top-1
   * agreement; an encoder's mean cosine similarity to float's embeddings and, with labels, its k-NN label agreement.
   */
  toReference?: { kl?: number; agreement?: number; cosine?: number };
  /** Per image, in evaluation order: 1 where the top-1 class is the label (for paired comparisons; not reported). */
  correct?: Uint8Array;
  /** Every image got the same output (within float rounding): a model that computes nothing from its input. */
  constantOutput?: boolean;
  /** The number of classes a classifier outputs. */
  classes?: number;
  /** The width of an image encoder's embedding. */
  width?: number;
}

/** The accuracy of labelled images: top-1 and top-5 are there. */
export type LabeledAccuracy = Accuracy & { top1: number; top5: number };

/**
 * Counts of rows whose label is within the top 1 and top 5 logits (ties go to the lower class index); `correct`, where
 * given, gets 1 at each row whose top-1 is right.
 */
export function topkHits(
  logits: Float32Array,
  classes: number,
  labels: Int32Array,
  correct?: Uint8Array,
): { top1: number; top5: number } {
  let top1 = 0;
  let top5 = 0;
  for (let row = 0; row < labels.length; row++) {
    const base = row * classes;
    const label = labels[row];
    const target = logits[base + label];
    let rank = 0;
    for (let c = 0; c < classes; c++) {
      const v = logits[base + c];
      if (v > target || (v === target && c < label) || Number.isNaN(target)) rank++;
    }
    if (rank < 1) top1++;
    if (rank < 5) top5++;
    if (correct) correct[row] = rank < 1 ? 1 : 0;
  }
  return { top1, top5 };
}

/** Rows of two [rows, classes] logit arrays whose top-1 class is the same. */
export function sameTop1(q: ArrayLike<number>, k: ArrayLike<number>, rows: number, classes: number): number {
  let same = 0;
  for (let r = 0; r < rows; r++) if (argmax(q, r * classes, classes) === argmax(k, r * classes, classes)) same++;
  return same;
}

/** The index of the largest of x[offset .. offset + n) (the first on a tie). */
export function argmax(x: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[offset + i] > x[offset + best]) best = i;
  return best;
}

/** Whether every row of `rows` × `width` values equals `first` within float rounding (relative 1e-5). */
export function sameRows(values: Float32Array, width: number, first: ArrayLike<number>): boolean {
  let scale = 0;
  for (let c = 0; c < width; c++) scale = Math.max(scale, Math.abs(first[c]));
  const tolerance = 1e-5 * Math.max(1, scale);
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i] - first[i % width]) > tolerance) return false;
  return true;
}
