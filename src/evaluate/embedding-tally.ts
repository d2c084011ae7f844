// An image encoder's evaluation: its embeddings of every image kept (one row each), their cosine similarity to the
// float model's, and at the end the k-NN classifier's top-1 over them where the images have labels.
import type { FloatTensor, Runner } from '../runtime/runner.js';
import type { Accuracy } from './metrics.js';
import { sameRows } from './metrics.js';
import { knnClassify, pooledRows, rowCosine, type KnnResult } from './embeddings.js';

/** One evaluated model's counts over the images, run by run. */
export interface Tally {
  /**
   * A run's output, for images from `at` on, with their labels (−1: none) and, unless this is the reference, the
   * reference's output of the same images as its `add` returned it; returns what the others are compared with.
   */
  add(output: FloatTensor, labels: Int32Array, at: number, reference?: Float32Array): Float32Array;
  /** The accuracy over `n` images; `reference` is the reference's tally, for the other targets. */
  accuracy(n: number, labeled: boolean, reference?: Tally): Promise<Accuracy>;
}

export class EmbeddingTally implements Tally {
  private rows?: Float32Array;
  private width = 0;
  private readonly labels: Int32Array;
  private cosine = 0;
  private compared = false;
  private constant = true;
  private knn?: Promise<KnnResult>;

  constructor(
    private readonly count: number,
    private readonly runner: Runner,
  ) {
    this.labels = new Int32Array(count);
  }

  add(output: FloatTensor, labels: Int32Array, at: number, reference?: Float32Array): Float32Array {
    const pooled = pooledRows(output.data, output.dims);
    this.width = pooled.width;
    this.rows ??= new Float32Array(this.count * pooled.width);
    this.rows.set(pooled.data, at * pooled.width);
    this.labels.set(labels, at);
    if (this.constant) this.constant = sameRows(pooled.data, pooled.width, this.rows.subarray(0, pooled.width));
    if (reference) {
      this.compared = true;
      for (let r = 0; r < pooled.rows; r++) this.cosine += rowCosine(pooled.data, reference, r, pooled.width);
    }
    return pooled.data;
  }

  /** The k-NN classifier over the first `n` images' embeddings, computed once. */
  private knnOf(n: number): Promise<KnnResult> {
    const [rows, labels] = [this.rows!.subarray(0, n * this.width), this.labels.subarray(0, n)];
    this.knn ??= knnClassify(this.runner, rows, n, this.width, labels);
    return this.knn;
  }

  async accuracy(n: number, labeled: boolean, reference?: Tally): Promise<Accuracy> {
    const knn = labeled ? await this.knnOf(n) : undefined;
    const base = reference instanceof EmbeddingTally && labeled ? await reference.knnOf(n) : undefined;
    let agree = 0;
    if (knn && base) for (let i = 0; i < n; i++) if (knn.predicted[i] === base.predicted[i]) agree++;
    return {
      top1: knn ? knn.top1 : null,
      top5: knn ? knn.top5 : null,
      n,
      ...(knn ? { correct: knn.correct } : {}),
      constantOutput: n > 1 && this.constant,
      width: this.width,
      ...(this.compared ? { toReference: { cosine: this.cosine / n, ...(base ? { agreement: agree / n } : {}) } } : {}),
    };
  }
}
