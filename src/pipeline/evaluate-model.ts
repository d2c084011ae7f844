// `evolq eval`: top-1/top-5 of a model on an ImageFolder (an image encoder's: of the k-NN classifier over its embeddings).
import { loadModel, type ModelOptions } from '../model.js';
import { listImageFolder, limitPerClass } from '../data/imagefolder.js';
import { fileSource } from '../data/source.js';
import { evaluateAccuracy, evaluatedOutputs } from '../evaluate/evaluate.js';
import { runnerFor, type Runner, type RuntimeOptions } from '../runtime/runner.js';
import type { LabeledAccuracy } from '../evaluate/metrics.js';
import type { Task } from '../task.js';
import { classCountWarnings } from './quantize-warnings.js';
import { silentProgress, type Progress } from '../progress.js';
import { checkRequest, EVAL_FIELDS } from '../options/request.js';

export interface EvalOptions extends ModelOptions {
  data: string;
  limit?: number;
  batchSize?: number;
  runner?: Runner;
  /** The execution provider and threads of onnxruntime-node, when no runner is given. */
  runtime?: RuntimeOptions;
  progress?: Progress;
}

export async function evaluateModel(
  path: string,
  options: EvalOptions,
): Promise<LabeledAccuracy & { task: Task; seconds: number; warnings: string[] }> {
  checkRequest('eval', { path, ...(options as object) }, EVAL_FIELDS, ['path', 'data']);
  const started = performance.now();
  const model = loadModel(path, options);
  const folder = listImageFolder(options.data, model.labels);
  const items = options.limit ? limitPerClass(folder, options.limit) : folder.items;
  const runner = runnerFor(options.runner, options.runtime);
  const session = await runner.createSession(model.file);
  try {
    const [accuracy] = await evaluateAccuracy(
      [{ session, inputName: model.inputName, outputName: model.outputName }],
      fileSource(items, model.preprocessing),
      options.batchSize ?? 100,
      { progress: options.progress ?? silentProgress, outputs: evaluatedOutputs(model.task.task, runner) },
    );
    // An ImageFolder's images all have labels, so top-1 and top-5 were counted.
    const classFolders =
      model.labels || model.task.task !== 'image-classification' ? undefined : new Set(items.map((i) => i.label)).size;
    const warnings = [
      ...classCountWarnings(accuracy.classes, classFolders),
      ...(accuracy.constantOutput
        ? [
            `the model gives all ${accuracy.n} images the same output: its weights or its preprocessing do not depend on the image`,
          ]
        : []),
    ];
    return {
      ...(accuracy as LabeledAccuracy),
      task: model.task.task,
      warnings,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await session.release();
  }
}
