// What a quantize run comes to, in one line and with its uncertainty: the shipped model's top-1 against float and
// against the baseline, as paired differences on the same images with a bootstrap 95% interval, beside what the
// search optimizes (KL to float), the size and the speed.
import { Rng } from '../rng.js';
import type { Accuracy } from './metrics.js';
import type { Task } from '../task.js';

/** A difference in top-1 between two models on the same images, in points, with its 95% paired-bootstrap interval. */
export interface Difference {
  points: number;
  /** The 95% interval, in points. */
  low: number;
  high: number;
  /** The interval leaves out 0. */
  significant: boolean;
}

/** Resamples of the paired bootstrap: the interval's ends move by about 0.05 points between seeds at 2,000 images. */
export const BOOTSTRAP_ROUNDS = 2000;

/**
 * The mean of a − b over images (1 where a model's top-1 is right), in points, with the 2.5th and 97.5th
 * percentiles of that mean over images drawn with replacement, the same draw for both models (paired).
 */
export function pairedDifference(a: Uint8Array, b: Uint8Array, seed: number, rounds = BOOTSTRAP_ROUNDS): Difference {
  const n = Math.min(a.length, b.length);
  const diff = new Int8Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += diff[i] = a[i] - b[i];
  const rng = new Rng(seed);
  const means = new Float64Array(rounds);
  for (let r = 0; r < rounds; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += diff[Math.floor(rng.next() * n)];
    means[r] = s / n;
  }
  means.sort();
  const at = (q: number) => 100 * means[Math.min(rounds - 1, Math.max(0, Math.round(q * (rounds - 1))))];
  const [low, high] = [at(0.025), at(0.975)];
  return { points: n ? (100 * sum) / n : 0, low, high, significant: low > 0 || high < 0 };
}

export interface Verdict {
  /** What is judged: `W4A8 Evol-Q` or `W8A8 baseline`, as model.onnx. */
  model: string;
  n: number;
  /** Top-1 of model.onnx and float, and their difference; absent for unlabeled images. */
  top1?: number;
  floatTop1?: number;
  vsFloat?: Difference;
  /** The share of images on which model.onnx has float's top-1. */
  agreement?: number;
  /** Against the baseline's simulation, where the search ran. */
  vsBaseline?: Difference;
  kl?: number;
  baselineKl?: number;
  /** An image encoder's mean cosine similarity to float's embeddings, and the baseline's. */
  cosine?: number;
  baselineCosine?: number;
  sizeRatio: number;
  /** model.onnx's speed against float at batch 1, where it was timed. */
  speedup?: number;
  text: string;
}

const signed = (x: number) => `${x < 0 ? '−' : '+'}${Math.abs(x).toFixed(2)}`;
const interval = (d: Difference) =>
  `${signed(d.points)} [${signed(d.low)}, ${signed(d.high)}]${d.significant ? '' : ', not significant'}`;

/** The verdict on model.onnx (`exported`) from the float, baseline and exported accuracies on the same images. */
export function verdictOf(run: {
  name: string;
  task?: Task;
  fp: Accuracy;
  baseline: Accuracy;
  exported: Accuracy;
  searched: boolean;
  sizeRatio: number;
  speedup?: number;
  seed: number;
}): Verdict {
  const { fp, baseline, exported } = run;
  const encoder = run.task === 'image-feature-extraction';
  const pct = (x: number) => (100 * x).toFixed(2);
  const kl = exported.toReference?.kl;
  const baselineKl = baseline.toReference?.kl;
  const cosine = exported.toReference?.cosine;
  const baselineCosine = baseline.toReference?.cosine;
  const top1 = encoder ? 'k-NN top-1' : 'top-1';
  const agreement = exported.toReference?.agreement;
  const labeled = fp.correct && exported.correct && baseline.correct && fp.top1 !== null && exported.top1 !== null;
  const vsFloat = labeled ? pairedDifference(exported.correct!, fp.correct!, run.seed) : undefined;
  const vsBaseline =
    labeled && run.searched ? pairedDifference(exported.correct!, baseline.correct!, run.seed + 1) : undefined;
  const parts = vsFloat
    ? [
        `${run.name}: ${top1} ${pct(exported.top1!)} vs float ${pct(fp.top1!)} (${interval(vsFloat)}, 95% paired bootstrap over ${fp.n} images)`,
        ...(vsBaseline ? [`vs baseline ${interval(vsBaseline)}`] : []),
      ]
    : encoder
      ? [
          `${run.name}: mean cosine similarity to float's embeddings ${cosine === undefined ? '?' : cosine.toFixed(5)} on ${fp.n} unlabeled images (give --eval with labelled images for k-NN top-1)`,
        ]
      : [
          `${run.name}: float's top-1 class on ${agreement === undefined ? '?' : pct(agreement)}% of ${fp.n} unlabeled images (give --eval with labelled images for top-1)`,
        ];
  const kls =
    kl === undefined
      ? []
      : [
          `KL to float ${kl.toPrecision(2)}${run.searched && baselineKl !== undefined ? ` (baseline ${baselineKl.toPrecision(2)})` : ''}`,
        ];
  const cosines =
    cosine === undefined || !vsFloat
      ? []
      : [
          `cosine to float ${cosine.toFixed(5)}${run.searched && baselineCosine !== undefined ? ` (baseline ${baselineCosine.toFixed(5)})` : ''}`,
        ];
  const size = `${(100 * run.sizeRatio).toFixed(0)}% of the size`;
  const speed = run.speedup === undefined ? [] : [`${run.speedup.toFixed(2)}× float's speed at batch 1`];
  return {
    model: run.name,
    n: fp.n,
    ...(vsFloat ? { top1: exported.top1!, floatTop1: fp.top1!, vsFloat } : {}),
    ...(agreement !== undefined ? { agreement } : {}),
    ...(vsBaseline ? { vsBaseline } : {}),
    ...(kl !== undefined ? { kl } : {}),
    ...(baselineKl !== undefined ? { baselineKl } : {}),
    ...(cosine !== undefined ? { cosine } : {}),
    ...(baselineCosine !== undefined ? { baselineCosine } : {}),
    sizeRatio: run.sizeRatio,
    ...(run.speedup !== undefined ? { speedup: run.speedup } : {}),
    text: `${parts.join(', ')}; ${[...kls, ...cosines, size, ...speed].join('; ')}`,
  };
}
