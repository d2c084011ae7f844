// `evolq eval`: top-1/top-5 of a model on an ImageFolder.
import { loadModel, type PreprocessingOverrides } from '../model.js';
import { listImageFolder, limitPerClass } from '../data/imagefolder.js';
import { fileSource } from '../data/source.js';
import { evaluateAccuracy } from '../evaluate/evaluate.js';
import { defaultRunner, type Runner } from '../runtime/runner.js';
import type { Accuracy } from '../evaluate/metrics.js';
import { silentProgress, type Progress } from '../progress.js';

export interface EvalOptions extends PreprocessingOverrides {
  data: string;
  limit?: number;
  batchSize?: number;
  runner?: Runner;
  progress?: Progress;
}

export async function evaluateModel(path: string, options: EvalOptions): Promise<Accuracy & { seconds: number }> {
  const started = performance.now();
  const model = loadModel(path, options);
  const folder = listImageFolder(options.data, model.labels);
  const items = options.limit ? limitPerClass(folder, options.limit) : folder.items;
  const runner = options.runner ?? defaultRunner;
  const session = await runner.createSession(model.file);
  try {
    const [accuracy] = await evaluateAccuracy(
      [{ session, inputName: model.inputName, outputName: model.outputName }],
      fileSource(items, model.preprocessing), options.batchSize ?? 100, options.progress ?? silentProgress,
    );
    return { ...accuracy, seconds: (performance.now() - started) / 1000 };
  } finally {
    await session.release();
  }
}
