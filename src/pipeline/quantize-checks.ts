// The option combinations quantize refuses, checked before any output folder is touched.
import { resolve, sep } from 'node:path';
import type { QuantizeOptions } from '../options/table.js';
import { requireLoadable, type Prepared } from './prepare.js';
import type { Runner } from '../runtime/runner.js';
import { missingRoles } from '../quant/paper-points.js';
import { ConfigError, ModelError } from '../errors.js';
import type { Progress } from '../progress.js';

/** Accuracy needs images: --eval, or a holdout drawn from the calibration folder. */
export function refuseNoEvaluationImages(evalFolder: string | undefined, options: QuantizeOptions): void {
  if (!evalFolder && options.holdout === 0) {
    throw new ConfigError(
      '--holdout 0 without --eval leaves no images to measure accuracy on; give --eval DIR or --holdout 1 or more',
      '--holdout',
    );
  }
  if (!evalFolder && options.evalLimit !== undefined)
    throw new ConfigError('--eval-limit limits the --eval images; give --eval DIR too', '--eval-limit');
}

/** Says which --extra-points roles the model lacks, and refuses a search with no units or no holdout to choose by. */
export function refuseUnsearchable(prepared: Prepared, options: QuantizeOptions, progress: Progress): void {
  const { model, points, units } = prepared;
  const missing = options.extraPoints ? missingRoles(points) : [];
  if (missing.length) progress.log(`--extra-points: ${model.file} has no ${missing.join(', ')} to quantize`);
  if (!points.some((p) => p.kind === 'weight') && !options.floatLayers.length)
    throw new ModelError(
      `${model.file}: no layer with weights to quantize (no MatMul, Gemm or Conv with a constant weight); evolq would write the float model`,
      model.file,
    );
  if (options.method === 'evolq' && !units.length) {
    throw new ConfigError(
      `${model.file}: no ${options.searchSpace} search units (no residual block or attention was found), so there is nothing for --method evolq to search; use --method baseline`,
      '--method',
    );
  }
  if (options.method === 'evolq' && options.holdout === 0) {
    throw new ConfigError(
      '--holdout 0: --method evolq keeps the pass that is best on the holdout images; give --holdout 1 or more',
      '--holdout',
    );
  }
}

/**
 * Says that unlabeled calibration images without --eval leave agreement and KL to judge by, not top-1 (an image
 * encoder's: cosine to float, not k-NN top-1; its labels come only with --eval).
 */
export function noteUnlabeled(prepared: Prepared, calib: string, options: QuantizeOptions, progress: Progress): void {
  if (prepared.evalFolder || prepared.calibFolder.labeled) return;
  if (prepared.model.task.task === 'image-feature-extraction')
    progress.log(
      `${calib}: without --eval (labelled images), the image encoder's model.onnx is judged by its cosine similarity to float's embeddings on the ${options.holdout} holdout images, not by k-NN top-1`,
    );
  else
    progress.log(
      `${calib}: unlabeled images (not class folders of the model's id2label): without --eval, model.onnx is judged by agreement and KL to float on the ${options.holdout} holdout images, not by top-1`,
    );
}

/** For a model without id2label, the class folders its evaluated images' labels were guessed from (sorted names). */
export function guessedClassFolders({ model, evalFolder, calibFolder }: Prepared): number | undefined {
  const folder = evalFolder ?? calibFolder;
  return model.labels || !folder.labeled || model.task.task !== 'image-classification'
    ? undefined
    : new Set(folder.items.map((i) => i.label)).size;
}

/** What quantize checks once the model and folders are read, before the output folder is touched. */
export async function checkPrepared(
  runner: Runner,
  prepared: Prepared,
  request: { calib: string; out: string },
  options: QuantizeOptions,
  progress: Progress,
): Promise<void> {
  const out = resolve(request.out);
  if (resolve(prepared.model.file).startsWith(out + sep))
    throw new ConfigError(
      `--out ${request.out}: holds the model being quantized (${prepared.model.file}), which the output would replace; choose another folder`,
      '--out',
    );
  refuseUnsearchable(prepared, options, progress);
  const evaluated = Math.min(options.evalLimit ?? Infinity, prepared.evalFolder?.items.length ?? 0);
  if (prepared.model.task.task === 'image-feature-extraction' && prepared.evalFolder && evaluated < 2)
    throw new ConfigError(
      `--eval ${prepared.evalFolder.root}: k-NN top-1 needs at least 2 labelled images (each is voted by the others), and ${evaluated} would be evaluated`,
      '--eval',
    );
  noteUnlabeled(prepared, request.calib, options, progress);
  await requireLoadable(runner, prepared.model);
}
