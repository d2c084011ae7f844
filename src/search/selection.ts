// Which scales the search keeps: the baseline's, or a pass's that is better on the holdout images by more than
// the holdout's noise. The measure is per image and smallest when the quantized logits equal the float ones, so
// a pass cannot win by moving away from float (Evol-Q's infoNCE can: it is not smallest at q = k).
import type { FloatTensor } from '../runtime/runner.js';
import { Rng } from '../rng.js';
import { cosine, kl } from '../fitness/losses.js';
import { argmax, sameTop1, topkHits } from '../evaluate/metrics.js';
import { rowCosine } from '../evaluate/embeddings.js';
import type { Task } from '../task.js';

/** Per image of a batch of logits [B, …, C] against the float ones: the measure's value for each image. */
type PerImage = (
  q: Float32Array,
  k: Float32Array,
  batch: number,
  classes: number,
  out: Float64Array,
  offset: number,
) => void;

/** KL(softmax(k) ‖ softmax(q)) per image, the `kl` loss of each image alone: 0 exactly when the softmaxes are equal. */
const klPerImage: PerImage = (q, k, batch, classes, out, offset) => {
  const row = (x: Float32Array, r: number) => x.subarray(r * classes, (r + 1) * classes);
  for (let r = 0; r < batch; r++) out[offset + r] = Math.max(0, kl(row(q, r), row(k, r), 1, classes));
};

/** 1 where the quantized top-1 differs from the float top-1, else 0. */
const disagreementPerImage: PerImage = (q, k, batch, classes, out, offset) => {
  for (let r = 0; r < batch; r++)
    out[offset + r] = argmax(q, r * classes, classes) === argmax(k, r * classes, classes) ? 0 : 1;
};

/** 1 − the cosine similarity of the quantized and float outputs of each image (the `cosine` loss's per-image terms). */
const cosinePerImage: PerImage = (q, k, batch, width, out, offset) => void cosine(q, k, batch, width, out, offset);

/**
 * The selection registry: `--select`'s choices. `kl`, `disagreement` and `cosine` are per image and smallest at q = k, and
 * a pass must beat the baseline by more than the holdout's noise; `loss` is the Evol-Q code's rule: the pass with
 * the lowest fitness loss on the holdout, noise or not (with infoNCE not smallest at q = k).
 */
export const SELECTION_REGISTRY = {
  kl: {
    summary:
      'KL of the float from the quantized softmax per holdout image; a pass must beat the baseline above the noise',
    perImage: klPerImage,
  },
  disagreement: {
    summary:
      "share of holdout images whose top-1 differs from the float model's; a pass must beat the baseline above the noise",
    perImage: disagreementPerImage,
  },
  cosine: {
    summary:
      "1 − cosine similarity to the float output per holdout image (an image encoder's embeddings); a pass must beat the baseline above the noise",
    perImage: cosinePerImage,
  },
  loss: { summary: "the fitness loss on the holdout, lowest wins (the Evol-Q code's rule)", perImage: undefined },
} satisfies Record<string, { summary: string; perImage?: PerImage }>;

export type Selection = keyof typeof SELECTION_REGISTRY;
export const SELECTIONS = Object.keys(SELECTION_REGISTRY) as Selection[];

/** How a pass (or the baseline, pass 0) did on the holdout images. */
export interface HoldoutScore {
  pass: number;
  /** The selection measure: mean over images (or the fitness loss, for `loss`). */
  measure: number;
  /** The fitness loss on the holdout, whatever selects. */
  loss: number;
  /** Top-1 against the holdout images' labels, and agreement with the float model's top-1: a classifier's, null for
   * an image encoder's embeddings (and top-1 for unlabeled images). */
  top1: number | null;
  agreement: number | null;
  /** An image encoder's mean cosine similarity to the float embeddings. */
  cosine?: number;
  /** Against the baseline: the mean per-image difference (negative is better), its bootstrap standard error, and
   * the share of bootstrap resamples in which the pass is not better. Absent for the baseline and for `loss`. */
  versusBaseline?: { difference: number; standardError: number; notBetter: number };
}

/**
 * Per-image values of a selection measure and, from the quantized outputs, a classifier's holdout top-1 and
 * agreement with float, or an encoder's mean cosine similarity to float. The outputs are one row per image, as the
 * fitness hands them over (it pools token outputs where it reads them).
 */
export function holdoutValues(
  selection: Selection,
  quantized: readonly FloatTensor[],
  reference: readonly FloatTensor[],
  labels: Int32Array,
  task: Task = 'image-classification',
): { perImage?: Float64Array; top1: number | null; agreement: number | null; cosine?: number } {
  const perImageOf = SELECTION_REGISTRY[selection].perImage;
  const n = labels.length;
  const perImage = perImageOf ? new Float64Array(n) : undefined;
  let [correct, agree, similarity, offset] = [0, 0, 0, 0];
  quantized.forEach((q, b) => {
    const k = reference[b];
    const [batch, width] = [q.dims[0], q.dims[q.dims.length - 1]];
    perImageOf?.(q.data, k.data, batch, width, perImage!, offset);
    if (task === 'image-classification') {
      correct += topkHits(q.data, width, labels.subarray(offset, offset + batch)).top1;
      agree += sameTop1(q.data, k.data, batch, width);
    } else for (let r = 0; r < batch; r++) similarity += rowCosine(q.data, k.data, r, width);
    offset += batch;
  });
  if (task === 'image-feature-extraction') return { perImage, top1: null, agreement: null, cosine: similarity / n };
  const labeled = labels.every((l) => l >= 0);
  return { perImage, top1: labeled ? correct / n : null, agreement: agree / n };
}

export const BOOTSTRAP_RESAMPLES = 2000;
/** A pass is kept only when it is not better than the baseline in at most this share of bootstrap resamples. */
export const NOT_BETTER_LIMIT = 0.05;

/**
 * Paired bootstrap of mean(candidate − baseline) over images: its mean, standard error and the share of
 * resamples where it is ≥ 0. Seeded, so a selection is deterministic (and the same after a resume).
 */
export function pairedBootstrap(
  candidate: ArrayLike<number>,
  baseline: ArrayLike<number>,
  resamples = BOOTSTRAP_RESAMPLES,
  seed = 0x5e1ec7,
): { difference: number; standardError: number; notBetter: number } {
  const n = candidate.length;
  const diff = Float64Array.from({ length: n }, (_, i) => candidate[i] - baseline[i]);
  const difference = diff.reduce((a, b) => a + b, 0) / n;
  const rng = new Rng(seed);
  let sum = 0;
  let sumSq = 0;
  let notBetter = 0;
  for (let s = 0; s < resamples; s++) {
    let total = 0;
    for (let i = 0; i < n; i++) total += diff[rng.int(n)];
    const mean = total / n;
    sum += mean;
    sumSq += mean * mean;
    if (mean >= 0) notBetter++;
  }
  const variance = Math.max(0, sumSq / resamples - (sum / resamples) ** 2);
  return { difference, standardError: Math.sqrt(variance), notBetter: notBetter / resamples };
}

/** Whether `score` is kept over the best so far: above the noise against the baseline, and lower than the best. */
export function betterThan(selection: Selection, score: HoldoutScore, best: HoldoutScore): boolean {
  if (selection === 'loss') return score.measure < best.measure;
  const v = score.versusBaseline;
  return !!v && v.difference < 0 && v.notBetter <= NOT_BETTER_LIMIT && score.measure < best.measure;
}

/** What was kept, in words: the baseline, the unsearched start (named), or pass N. */
export function keptName(search: { keptPass: number; keptStart: boolean; start: { chosen: string } }): string {
  if (search.keptStart) return `the unsearched ${search.start.chosen} start`;
  return search.keptPass === 0 ? 'the baseline' : `pass ${search.keptPass}`;
}

/** One sentence: why the kept result was kept. `start`: the unsearched start's holdout score, where it is not the baseline. */
export function whyKept(
  selection: Selection,
  scores: readonly HoldoutScore[],
  kept: number,
  holdoutImages: number,
  start?: { name: string; score: HoldoutScore; kept: boolean },
): string {
  const base = scores[0];
  const name = selection === 'loss' ? 'holdout loss' : `holdout ${selection}`;
  const f = (x: number) => x.toPrecision(5);
  const above = (s: HoldoutScore) => {
    const v = s.versusBaseline!;
    return `against the baseline's ${f(base.measure)}, lower by ${(-v.difference / v.standardError).toFixed(1)} standard errors of the difference on ${holdoutImages} holdout images`;
  };
  if (start?.kept) {
    const s = start.score;
    if (selection === 'loss')
      return `the unsearched ${start.name} start had the lowest ${name} (${f(s.measure)}; baseline ${f(base.measure)}) on ${holdoutImages} holdout images, lower than every pass's`;
    return `the unsearched ${start.name} start had the lowest ${name} (${f(s.measure)} ${above(s)}); no pass went below it`;
  }
  if (kept === 0) {
    if (selection === 'loss')
      return `no pass lowered the ${name} below the baseline's ${f(base.measure)}, so the baseline scales are kept`;
    const lower = [...scores.filter((s) => s.pass > 0), ...(start ? [start.score] : [])].filter(
      (s) => s.measure < base.measure,
    );
    const none = start ? `neither the ${start.name} start nor any pass` : 'no pass';
    return lower.length
      ? `${none} beat the baseline's ${name} (${f(base.measure)}) above the noise of ${holdoutImages} holdout images (the lowest was not better in ${(100 * Math.min(...lower.map((s) => s.versusBaseline!.notBetter))).toFixed(0)}% of bootstrap resamples; ${(100 * NOT_BETTER_LIMIT).toFixed(0)}% allowed), so the baseline scales are kept`
      : `${none} lowered the ${name} below the baseline's ${f(base.measure)}, so the baseline scales are kept`;
  }
  const s = scores.find((x) => x.pass === kept)!;
  if (selection === 'loss')
    return `pass ${kept} had the lowest ${name} (${f(s.measure)}; baseline ${f(base.measure)}) on ${holdoutImages} holdout images`;
  return `pass ${kept} had the lowest ${name} (${f(s.measure)} ${above(s)})`;
}

/** Whether the last `patience` passes all failed to lower the holdout measure below the lowest before them. */
export function stalled(holdout: readonly HoldoutScore[], patience: number): boolean {
  if (patience <= 0 || holdout.length <= patience) return false;
  const lowest = holdout.reduce((best, h) => (h.measure < best.measure ? h : best));
  return holdout.length - 1 - lowest.pass >= patience;
}
