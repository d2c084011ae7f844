// Accuracy of the float model, the simulated quantized models and the exported model.onnx, in one pass over the images.
import type { LoadedModel } from '../model.js';
import { limitPerClass, type ImageBatch, type SkippedImage } from '../data/imagefolder.js';
import { decodedSource, fileSource, type ImageSource } from '../data/source.js';
import { evaluateAccuracy, evaluatedOutputs, type EvaluationTarget } from '../evaluate/evaluate.js';
import type { Accuracy } from '../evaluate/metrics.js';
import type { QuantizeOptions } from '../options/table.js';
import type { Runner, Session } from '../runtime/runner.js';
import type { Progress } from '../progress.js';
import type { Prepared } from './prepare.js';
import type { ExportedModels } from './export-models.js';

export interface QuantizedAccuracy {
  fp: Accuracy;
  baseline: Accuracy;
  evolq?: Accuracy;
  exported: Accuracy;
}

/** The --eval images (up to --eval-limit per class), read as evaluation goes; else the decoded holdout. */
export function evaluationImages(
  prepared: Prepared,
  options: QuantizeOptions,
  holdout: ImageBatch,
  skipped: SkippedImage[] | undefined,
): ImageSource {
  const { model, evalFolder, splits } = prepared;
  const evalItems = evalFolder
    ? options.evalLimit
      ? limitPerClass(evalFolder, options.evalLimit)
      : evalFolder.items
    : splits.holdout;
  return evalFolder ? fileSource(evalItems, model.preprocessing, skipped) : decodedSource(holdout);
}

/** Float, baseline, Evol-Q (when searched) and model.onnx, on the same images. */
export async function evaluateQuantized(
  runner: Runner,
  model: LoadedModel,
  exported: ExportedModels,
  source: ImageSource,
  options: QuantizeOptions,
  progress: Progress,
): Promise<QuantizedAccuracy> {
  const accuracies = await evaluateModels(
    runner,
    model,
    [...exported.simulations, exported.bytes],
    source,
    options,
    progress,
  );
  const [fp, baseline] = accuracies;
  const evolq = exported.simulations.length > 1 ? accuracies[2] : undefined;
  return { fp, baseline, evolq, exported: accuracies[accuracies.length - 1] };
}

/**
 * Float, baseline and (when searched) Evol-Q accuracy in one pass over the images, each quantized model also
 * measured against the float one (KL and top-1 agreement). The quantized models run
 * with their scales baked in, as simulation.onnx holds them.
 */
async function evaluateModels(
  runner: Runner,
  model: LoadedModel,
  quantizedModels: readonly Uint8Array[],
  source: ImageSource,
  options: QuantizeOptions,
  progress: Progress,
): Promise<Accuracy[]> {
  const sessions: Session[] = [];
  try {
    sessions.push(await runner.createSession(model.file));
    for (const bytes of quantizedModels) sessions.push(await runner.createSession(bytes));
    const targets: EvaluationTarget[] = sessions.map((session) => ({
      session,
      inputName: model.inputName,
      outputName: model.outputName,
    }));
    return await evaluateAccuracy(targets, source, options.batchSize, {
      progress,
      reference: 0,
      outputs: evaluatedOutputs(model.task.task, runner),
    });
  } finally {
    for (const s of sessions) await s.release();
  }
}
