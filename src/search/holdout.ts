// The holdout images' scores: how the baseline, the start and each pass do on images the search never fits.
import type { QuantParams } from '../quant/scheme.js';
import type { ImageBatch } from '../data/imagefolder.js';
import type { Fitness } from '../fitness/fitness.js';
import type { ImagesRan, ScoredImages } from '../fitness/batches.js';
import type { MacBudget } from './budget.js';
import type { Task } from '../task.js';
import { holdoutValues, pairedBootstrap, type HoldoutScore, type Selection } from './selection.js';

/** The holdout score of `params` as pass `pass`, compared with the baseline's per-image measure when there is one. */
export type HoldoutScorer = (
  params: Readonly<Record<string, QuantParams>>,
  pass: number,
  baselinePerImage: number[] | null,
  ran?: ImagesRan,
) => Promise<{ score: HoldoutScore; perImage?: Float64Array }>;

/** Scores on `images` (their float logits in `holdout`): one quantized forward each, counted. */
export function holdoutScorer(
  fitness: Fitness,
  budget: MacBudget,
  selection: Selection,
  images: ImageBatch,
  holdout: ScoredImages,
  task?: Task,
): HoldoutScorer {
  return async (params, pass, baselinePerImage, ran) => {
    const logits = await fitness.logits(params, holdout, ran);
    fitness.forwards.holdout++;
    budget.holdoutForward();
    const values = holdoutValues(selection, logits, holdout.reference, images.labels, task);
    const loss = fitness.lossOf(logits, holdout);
    const perImage = values.perImage;
    const measure = perImage ? perImage.reduce((a, b) => a + b, 0) / perImage.length : loss;
    const versusBaseline = perImage && baselinePerImage ? pairedBootstrap(perImage, baselinePerImage) : undefined;
    return {
      score: {
        pass,
        measure,
        loss,
        top1: values.top1,
        agreement: values.agreement,
        ...(values.cosine !== undefined ? { cosine: values.cosine } : {}),
        ...(versusBaseline ? { versusBaseline } : {}),
      },
      perImage,
    };
  };
}

/** A holdout score in words, for the progress log. */
export function describeScore(score: HoldoutScore, selection: Selection): string {
  const v = score.versusBaseline;
  return `${selection} ${score.measure.toPrecision(5)}${v ? ` (${v.difference <= 0 ? '' : '+'}${(v.difference / (v.standardError || Infinity)).toFixed(1)} se against the baseline)` : ''}${score.top1 === null ? '' : `, top-1 ${(100 * score.top1).toFixed(1)}%`}${score.cosine === undefined ? '' : `, cosine to float ${score.cosine.toFixed(5)}`}`;
}
