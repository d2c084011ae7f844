// Accuracy of one or more sessions over the same images, decoding each batch once for all of them.
import type { Runner, Session, FloatTensor } from '../runtime/runner.js';
import type { ImageSource } from '../data/source.js';
import { batchRanges, sliceBatch, type ImageBatch } from '../data/imagefolder.js';
import { sameRows, sameTop1, topkHits, type Accuracy } from './metrics.js';
import { EmbeddingTally, type Tally } from './embedding-tally.js';
import { kl } from '../fitness/losses.js';
import type { Task } from '../task.js';
import { silentProgress, type Progress } from '../progress.js';
import { EvolqError, DataError } from '../errors.js';

/** What the targets output: class logits, or an image encoder's embeddings (whose k-NN runs on `runner`). */
export type EvaluatedOutputs = { task: 'image-classification' } | { task: 'image-feature-extraction'; runner: Runner };

export interface EvaluationOptions {
  progress?: Progress;
  /** The index of the float model among the targets: the others are also measured against it. */
  reference?: number;
  outputs?: EvaluatedOutputs;
}

/** The outputs of a model of `task`, for evaluateAccuracy. */
export function evaluatedOutputs(task: Task, runner: Runner): EvaluatedOutputs {
  return task === 'image-classification' ? { task } : { task, runner };
}

export interface EvaluationTarget {
  session: Session;
  inputName: string;
  outputName: string;
  /** Extra feeds (a simulation graph's scales and zero points). */
  feeds?: Record<string, FloatTensor>;
}

/**
 * Top-1 and top-5 of each target over the same images, decoded `batchSize` at a time: of its class logits, or for an
 * image encoder (`outputs`), of a k-NN classifier over its embeddings of the images (src/evaluate/embeddings.ts). With
 * `reference` (the index of the float model among the targets), every other target also gets `toReference`: a
 * classifier's mean KL of the reference's softmax from its own and the share of images whose top-1 is the
 * reference's; an encoder's mean cosine similarity to the reference's embeddings (and the share whose k-NN label is
 * the reference's). Each target runs a batch in runs of batchSize / targets images: onnxruntime keeps each session's
 * largest working memory until the session ends, so together they hold about what one model at `batchSize` does
 * (docs/notes/memory.md).
 */
export async function evaluateAccuracy(
  targets: readonly EvaluationTarget[],
  source: ImageSource,
  batchSize: number,
  { progress = silentProgress, reference, outputs = { task: 'image-classification' } }: EvaluationOptions = {},
): Promise<Accuracy[]> {
  const run = Math.max(1, Math.ceil(batchSize / Math.max(1, targets.length)));
  const tallies: Tally[] = targets.map((t) =>
    outputs.task === 'image-classification'
      ? new ClassTally(source.count, t.outputName)
      : new EmbeddingTally(source.count, outputs.runner),
  );
  // The reference runs first, so each run's outputs of the others meet its own.
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
      if (batch.labels.some((l) => l < 0)) labeled = false;
      const referenceOutputs: Float32Array[] = [];
      for (const t of batch.dims[0] ? order : []) {
        const target = targets[t];
        for (const [r, [start, end]] of [...batchRanges(batch.dims[0], run)].entries()) {
          const part = sliceBatch(batch, start, end);
          const result = await target.session.run(
            { ...target.feeds, [target.inputName]: { data: part.data, dims: part.dims } },
            [target.outputName],
          );
          const output = result[target.outputName];
          requireFinite(output, target.outputName, n - batch.dims[0] + start);
          const at = n - batch.dims[0] + start;
          const compared = t === reference ? undefined : referenceOutputs[r];
          const kept = tallies[t].add(output, part.labels, at, compared);
          if (t === reference) referenceOutputs[r] = kept;
        }
      }
      progress.update(ranges[i][1]);
    }
  } finally {
    void next?.catch(() => undefined); // a decode still in flight after an error must not go unhandled
    progress.end();
  }
  if (!n) throw new DataError(`no images to evaluate on (${source.count} listed, none decoded)`);
  const base = reference === undefined ? undefined : tallies[reference];
  const accuracies: Accuracy[] = [];
  for (const [t, tally] of tallies.entries())
    accuracies.push(await tally.accuracy(n, labeled, t === reference ? undefined : base));
  return accuracies;
}

/** A NaN or infinite output is an error that names the image. */
function requireFinite(output: FloatTensor, name: string, first: number): void {
  const bad = output.data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0)
    throw new EvolqError(
      `output '${name}' is ${Number.isNaN(output.data[bad]) ? 'NaN' : 'infinite'} for image ${first + Math.floor(bad / (output.data.length / output.dims[0])) + 1} of the evaluation: the model, or its preprocessing (rescale_factor, image_mean, image_std), does not compute numbers`,
    );
}

/** One target's class logits over the images: top-1/top-5 hits (per image too), KL and agreement sums, constant output. */
class ClassTally implements Tally {
  top1 = 0;
  top5 = 0;
  kl = 0;
  agree = 0;
  private readonly correct: Uint8Array;
  private first?: Float32Array;
  private constant = true;
  private classes = 0;

  constructor(
    count: number,
    private readonly outputName: string,
  ) {
    this.correct = new Uint8Array(count);
  }

  add(output: FloatTensor, labels: Int32Array, at: number, reference?: Float32Array): Float32Array {
    const logits = output.data;
    const classes = output.dims[output.dims.length - 1];
    if (output.dims.length !== 2)
      throw new EvolqError(
        `output '${this.outputName}' has shape [${output.dims.join(', ')}], expected [batch, classes] (an image encoder's output is evaluated with --task image-feature-extraction)`,
      );
    const highest = labels.reduce((a, b) => Math.max(a, b), 0);
    if (highest >= classes)
      throw new DataError(`the images have class index ${highest}, but the model outputs ${classes} classes`);
    if (labels.every((l) => l >= 0)) {
      const h = topkHits(logits, classes, labels, this.correct.subarray(at, at + labels.length));
      this.top1 += h.top1;
      this.top5 += h.top5;
    }
    this.classes = classes;
    this.first ??= logits.slice(0, classes);
    if (this.constant) this.constant = sameRows(logits, classes, this.first);
    if (reference) {
      this.kl += kl(logits, reference, labels.length, classes) * labels.length;
      this.agree += sameTop1(logits, reference, labels.length, classes);
    }
    return logits;
  }

  async accuracy(n: number, labeled: boolean, reference?: Tally): Promise<Accuracy> {
    return {
      top1: labeled ? this.top1 / n : null,
      top5: labeled ? this.top5 / n : null,
      n,
      ...(labeled ? { correct: this.correct.subarray(0, n) } : {}),
      constantOutput: n > 1 && this.constant,
      classes: this.classes,
      ...(reference ? { toReference: { kl: this.kl / n, agreement: this.agree / n } } : {}),
    };
  }
}
