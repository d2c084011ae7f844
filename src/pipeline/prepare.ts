// The stages quantize, landscape and bench share: model → graph → quant points + search units, image folders →
// calibration and holdout draws; then decoded calibration images → calibration table.
import { loadModel, requireFloatModel, type LoadedModel, type ModelOptions } from '../model.js';
import { findQuantPoints, type QuantPoint } from '../quant/points.js';
import { findUnits, type SearchUnit } from '../quant/units.js';
import { calibrate } from '../calibrate/calibrate.js';
import type { CalibrationTable } from '../calibrate/table.js';
import { listCalibrationImages } from '../data/image-list.js';
import { listImageFolder, drawSplits, type ImageBatch, type ImageFolder, type ImageItem } from '../data/imagefolder.js';
import type { Runner } from '../runtime/runner.js';
import type { QuantizeOptions } from '../options/table.js';
import { Rng } from '../rng.js';
import { flagOf } from '../options/resolve.js';
import { formatWeightBlock } from '../export/formats.js';
import { weightLevelBits } from '../quant/scheme.js';
import { autoTriesFitted } from '../search/start.js';
import { silentProgress, type Progress } from '../progress.js';

export interface PrepareRequest {
  model: string;
  modelOptions?: ModelOptions;
  calib: string;
  eval?: string;
  options: Pick<QuantizeOptions, 'searchSpace' | 'calibSize' | 'seed'> &
    Partial<Pick<QuantizeOptions, 'extraPoints' | 'sharedQkv' | 'integerLayerNorm' | 'convOutputs' | 'floatLayers'>>;
  /** Images drawn beside the calibration set (the holdout), and the option that sized them, for errors. */
  holdout: { count: number; option: 'holdout' | 'evalLimit' };
}

export interface Prepared {
  model: LoadedModel;
  points: QuantPoint[];
  units: SearchUnit[];
  calibFolder: ImageFolder;
  evalFolder?: ImageFolder;
  /** The seeded generator, after the draw: the search continues from it. */
  rng: Rng;
  splits: { calibration: ImageItem[]; holdout: ImageItem[] };
}

/** Everything that needs no image decoded: bad input fails here, before any output folder is touched. */
export function prepare(request: PrepareRequest): Prepared {
  const model = loadModel(request.model, request.modelOptions);
  requireFloatModel(model);
  const points = findQuantPoints(model.graph, request.options);
  const units = findUnits(model.graph, points, request.options.searchSpace);
  const calibFolder = listCalibrationImages(request.calib, model.labels);
  const evalFolder = request.eval ? listImageFolder(request.eval, model.labels) : undefined;
  const rng = new Rng(request.options.seed);
  const splits = drawSplits(
    calibFolder,
    request.options.calibSize,
    request.holdout.count,
    rng,
    flagOf(request.holdout.option),
  );
  return { model, points, units, calibFolder, evalFolder, rng, splits };
}

/**
 * onnxruntime loads the model file as the user gave it (its own checks of the graph, before evolq edits a copy):
 * a model it refuses is named now, not as an 'in-memory model' after the images are decoded.
 */
export async function requireLoadable(runner: Runner, model: LoadedModel): Promise<void> {
  const session = await runner.createSession(model.file, { optimization: 'disabled' });
  await session.release();
}

/** The FQ-ViT baseline's calibration table from decoded calibration images, with the quantize options. */
export function calibrateBaseline(
  runner: Runner,
  prepared: Prepared,
  images: ImageBatch,
  options: QuantizeOptions,
  progress: Progress = silentProgress,
): Promise<CalibrationTable> {
  const { model, points } = prepared;
  return calibrate(
    runner,
    model.graph,
    model.inputName,
    points,
    images,
    {
      wBits: weightLevelBits(options.wBits, options.reduceRange),
      aBits: options.aBits,
      observer: options.observer,
      ptf: options.ptf,
      lis: options.lis,
      biasCorrection: options.biasCorrection,
      batchSize: options.batchSize,
      weightBlock: formatWeightBlock(options.exportFormat),
      memoryBudget: options.memoryBudget,
      weightCorrection: options.weightCorrection,
      integerLayerNorm: options.integerLayerNorm,
      ptfRefit:
        options.method === 'evolq' &&
        (options.start === 'fitted' || (options.start === 'auto' && autoTriesFitted(options.aBits, options.ptf))),
    },
    progress,
  );
}
