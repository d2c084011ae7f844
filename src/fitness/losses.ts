// Fitness losses between quantized logits q and full-precision logits k, one batch [B, C] at a time.
import type { FloatTensor } from '../runtime/runner.js';

/**
 * Every loss is a mean over the batch's rows; with `rows` given, each row's term is written to it (from `offset`),
 * so the returned value is their mean. The search's racing compares candidates image by image with them.
 */
export type LossFunction = (
  q: Float32Array,
  k: Float32Array,
  batch: number,
  classes: number,
  rows?: Float64Array,
  offset?: number,
) => number;

/**
 * A loss of one batch of outputs [B, C] against its reference (logits, or embeddings: the fitness pools token
 * features [B, T, D] to [B, D] where it reads them); with `rows`, each image's term from `offset`.
 */
export function batchLoss(loss: LossFunction, q: FloatTensor, k: FloatTensor, rows?: Float64Array, offset = 0): number {
  return loss(q.data, k.data, q.dims[0], q.dims[q.dims.length - 1], rows, offset);
}

function normalizedRows(x: Float32Array, batch: number, classes: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < batch; r++) {
    let norm = 0;
    for (let c = 0; c < classes; c++) norm += x[r * classes + c] ** 2;
    const inverse = 1 / Math.max(Math.sqrt(norm), 1e-12); // F.normalize's eps
    for (let c = 0; c < classes; c++) out[r * classes + c] = x[r * classes + c] * inverse;
  }
  return out;
}

export function logSoftmaxRow(x: ArrayLike<number>, offset: number, n: number, out: Float64Array): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, x[offset + i]);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(x[offset + i] - max);
  const log = Math.log(sum) + max;
  for (let i = 0; i < n; i++) out[i] = x[offset + i] - log;
}

/** Evol-Q's infoNCE (MoCo v3 form): CE(normalize(q)·normalize(k)ᵀ / T, diagonal) · 2T, in-batch negatives. */
export function infonce(temperature: number): LossFunction {
  return (q, k, batch, classes, rows, offset = 0) => {
    const qn = normalizedRows(q, batch, classes);
    const kn = normalizedRows(k, batch, classes);
    const row = new Float64Array(batch);
    const logProbabilities = new Float64Array(batch);
    let total = 0;
    for (let i = 0; i < batch; i++) {
      for (let j = 0; j < batch; j++) {
        let dot = 0;
        for (let c = 0; c < classes; c++) dot += qn[i * classes + c] * kn[j * classes + c];
        row[j] = dot / temperature;
      }
      logSoftmaxRow(row, 0, batch, logProbabilities);
      total -= logProbabilities[i];
      if (rows) rows[offset + i] = -logProbabilities[i] * 2 * temperature;
    }
    return (total / batch) * 2 * temperature;
  };
}

export const mse: LossFunction = (q, k, batch, classes, rows, offset = 0) => {
  let sum = 0;
  for (let i = 0; i < q.length; i++) sum += (q[i] - k[i]) ** 2;
  if (rows) {
    const width = q.length / batch;
    for (let r = 0; r < batch; r++) {
      let row = 0;
      for (let i = r * width; i < (r + 1) * width; i++) row += (q[i] - k[i]) ** 2;
      rows[offset + r] = row / width;
    }
  }
  return sum / q.length;
};

/** KL(softmax(k) ‖ softmax(q)), averaged over the batch. */
export const kl: LossFunction = (q, k, batch, classes, rows, offset = 0) => {
  const lq = new Float64Array(classes);
  const lk = new Float64Array(classes);
  let total = 0;
  for (let r = 0; r < batch; r++) {
    logSoftmaxRow(q, r * classes, classes, lq);
    logSoftmaxRow(k, r * classes, classes, lk);
    const before = total;
    for (let c = 0; c < classes; c++) total += Math.exp(lk[c]) * (lk[c] - lq[c]);
    if (rows) rows[offset + r] = total - before;
  }
  return total / batch;
};

/** 1 − mean cosine similarity of q and k rows. */
export const cosine: LossFunction = (q, k, batch, classes, rows, offset = 0) => {
  const qn = normalizedRows(q, batch, classes);
  const kn = normalizedRows(k, batch, classes);
  let total = 0;
  for (let i = 0; i < qn.length; i++) total += qn[i] * kn[i];
  if (rows) {
    for (let r = 0; r < batch; r++) {
      let dot = 0;
      for (let c = r * classes; c < (r + 1) * classes; c++) dot += qn[c] * kn[c];
      rows[offset + r] = 1 - dot;
    }
  }
  return 1 - total / batch;
};

/**
 * The loss registry: a name → how to build it, and whether it is smallest when the quantized logits equal the
 * float ones. `--loss`'s choices, its help and its errors all come from here; a new loss is one entry.
 */
export const LOSS_REGISTRY = {
  infonce: {
    summary: "Evol-Q's infoNCE with in-batch negatives (not smallest at q = k)",
    create: infonce,
    minimalAtFloat: false,
  },
  mse: { summary: 'mean squared error of the logits', create: () => mse, minimalAtFloat: true },
  kl: { summary: 'KL divergence of the float from the quantized softmax', create: () => kl, minimalAtFloat: true },
  cosine: { summary: '1 − cosine similarity of the logit rows', create: () => cosine, minimalAtFloat: true },
} satisfies Record<string, { summary: string; create: (temperature: number) => LossFunction; minimalAtFloat: boolean }>;

export type Loss = keyof typeof LOSS_REGISTRY;
export const LOSSES = Object.keys(LOSS_REGISTRY) as Loss[];

export function lossFunction(loss: Loss, temperature: number): LossFunction {
  return LOSS_REGISTRY[loss].create(temperature);
}
