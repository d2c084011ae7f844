// model.onnx against the float model on this machine, on images of the run (report.json: exported.speed).
import type { LoadedModel } from '../model.js';
import type { ImageBatch } from '../data/imagefolder.js';
import type { ImageSource } from '../data/source.js';
import { measureSpeed, type SpeedReport } from '../evaluate/speed.js';
import type { Runner } from '../runtime/runner.js';
import type { ExportedModels } from './export-models.js';

/** Times both at batch 1 and at `batchSize` on the decoded holdout when it has that many, else on the first evaluation images. */
export async function timeExported(
  runner: Runner,
  model: LoadedModel,
  exported: ExportedModels,
  images: { holdout: ImageBatch; source: ImageSource },
  batchSize: number,
): Promise<SpeedReport | undefined> {
  const { holdout, source } = images;
  const batch = holdout.dims[0] >= batchSize ? holdout : await source.batch(0, Math.min(batchSize, source.count));
  if (!batch.dims[0]) return undefined;
  return measureSpeed(runner, { float: model.file, quantized: exported.bytes }, batch, model.inputName, batchSize);
}
