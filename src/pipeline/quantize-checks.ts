// The option combinations quantize refuses, checked before any output folder is touched.
import type { QuantizeOptions } from '../options/table.js';
import type { Prepared } from './prepare.js';
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
