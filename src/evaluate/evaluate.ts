// Accuracy of one or more sessions over the same images, decoding each batch once for all of them.
import type { Session, FloatTensor } from '../runtime/runner.js';
import type { ImageSource } from '../data/source.js';
import { batchRanges, sliceBatch, type ImageBatch } from '../data/imagefolder.js';
import { sameRows, sameTop1, topkHits, type Accuracy } from './metrics.js';
import { kl } from '../fitness/losses.js';
import { silentProgress, type Progress } from '../progress.js';
import { EvolqError, DataError } from '../errors.js';

export interface EvaluationTarget {
  session: Session;
  inputName: string;
  outputName: string;
  /** Extra feeds (a simulation graph's scales and zero points). */
  feeds?: Record<string, FloatTensor>;
}

/**
 * Top-1 and top-5 of each target over the same images, decoded `batchSize` at a time. With `reference` (the index
 * of the float model among the targets), every other target also gets `toReference`: the mean KL of the
 * reference's softmax from its own, and the share of images whose top-1 is the reference's. Each target runs a batch in
 * runs of batchSize / targets images: onnxruntime keeps each session's largest working memory until the
 * session ends, so together they hold about what one model at `batchSize` does (docs/notes/memory.md).
 */
export async function evaluateAccuracy(
  targets: readonly EvaluationTarget[],
  source: ImageSource,
  batchSize: number,
  progress: Progress = silentProgress,
  reference?: number,
): Promise<Accuracy[]> {
  const run = Math.max(1, Math.ceil(batchSize / Math.max(1, targets.length)));
  const hits = targets.map(() => new Tally(source.count));
  // The reference runs first, so each run's logits of the others meet its own.
  const order =
    reference === undefined ? [...targets.keys()] : [reference, ...[...targets.keys()].filter((t) => t !== reference)];
  let n = 0;
  let labeled = true;
  const ranges = [...batchRanges(source.count, batchSize)];
  progress.start('evaluation', source.count);
  let next: Promise<ImageBatch> | undefined;
  try {
    next = ranges.length ? source.batch(...ranges[0]) : undefined;
    for (let i = 0; i < ranges.length; i++) {
      const batch = await next!;
      next = i + 1 < ranges.length ? source.batch(...ranges[i + 1]) : undefined; // decode ahead while the model runs
      n += batch.dims[0];
      const highest = batch.labels.reduce((a, b) => Math.max(a, b), 0);
      if (batch.labels.some((l) => l < 0)) labeled = false;
      const referenceLogits: Float32Array[] = [];
      for (const t of batch.dims[0] ? order : []) {
        const target = targets[t];
        for (const [r, [start, end]] of [...batchRanges(batch.dims[0], run)].entries()) {
          const part = sliceBatch(batch, start, end);
          const result = await target.session.run(
            { ...target.feeds, [target.inputName]: { data: part.data, dims: part.dims } },
            [target.outputName],
          );
          const logits = result[target.outputName];
          const classes = logits.dims[logits.dims.length - 1];
          if (logits.dims.length !== 2)
            throw new EvolqError(
              `output '${target.outputName}' has shape [${logits.dims.join(', ')}], expected [batch, classes]`,
            );
          if (highest >= classes)
            throw new DataError(`the images have class index ${highest}, but the model outputs ${classes} classes`);
          const bad = logits.data.findIndex((v) => !Number.isFinite(v));
          if (bad >= 0)
            throw new EvolqError(
              `output '${target.outputName}' is ${Number.isNaN(logits.data[bad]) ? 'NaN' : 'infinite'} for image ${n - batch.dims[0] + start + Math.floor(bad / classes) + 1} of the evaluation: the model, or its preprocessing (rescale_factor, image_mean, image_std), does not compute numbers`,
            );
          hits[t].add(logits.data, classes, labeled ? part.labels : undefined, n - batch.dims[0] + start);
          if (t === reference) {
            referenceLogits[r] = logits.data;
          } else if (reference !== undefined) {
            const k = referenceLogits[r];
            hits[t].kl += kl(logits.data, k, part.dims[0], classes) * part.dims[0];
            hits[t].agree += sameTop1(logits.data, k, part.dims[0], classes);
          }
        }
      }
      progress.update(ranges[i][1]);
    }
  } finally {
    void next?.catch(() => undefined); // a decode still in flight after an error must not go unhandled
    progress.end();
  }
  if (!n) throw new DataError(`no images to evaluate on (${source.count} listed, none decoded)`);
  return hits.map((h, t) => ({
    ...h.accuracy(n, labeled),
    ...(reference !== undefined && t !== reference ? { toReference: { kl: h.kl / n, agreement: h.agree / n } } : {}),
  }));
}

/** One target's counts over the images: top-1/top-5 hits (per image too), KL and agreement sums, constant output. */
class Tally {
  top1 = 0;
  top5 = 0;
  kl = 0;
  agree = 0;
  private readonly correct: Uint8Array;
  private first?: Float32Array;
  private constant = true;
  private classes = 0;

  constructor(count: number) {
    this.correct = new Uint8Array(count);
  }

  /** A run's logits, for images from `at` on; `labels` where the images have them. */
  add(logits: Float32Array, classes: number, labels: Int32Array | undefined, at: number): void {
    if (labels) {
      const h = topkHits(logits, classes, labels, this.correct.subarray(at, at + labels.length));
      this.top1 += h.top1;
      this.top5 += h.top5;
    }
    this.classes = classes;
    this.first ??= logits.slice(0, classes);
    if (this.constant) this.constant = sameRows(logits, classes, this.first);
  }

  accuracy(n: number, labeled: boolean): Accuracy {
    return {
      top1: labeled ? this.top1 / n : null,
      top5: labeled ? this.top5 / n : null,
      n,
      ...(labeled ? { correct: this.correct.subarray(0, n) } : {}),
      constantOutput: n > 1 && this.constant,
      classes: this.classes,
    };
  }
}
