// The Evol-Q search of quantize: the calibrated baseline's scales → the searched scales, within the memory budget.
import { materialize } from '../quant/materialize.js';
import type { ImageBatch } from '../data/imagefolder.js';
import type { CalibrationTable } from '../calibrate/table.js';
import { evolqSearch } from '../search/search.js';
import { searchSettings } from '../search/settings.js';
import type { SearchReport } from '../search/report.js';
import { CHECKPOINT_FILE } from '../search/checkpoint.js';
import type { SearchState } from '../search/state.js';
import type { QuantParams } from '../quant/scheme.js';
import type { TaskOptions } from '../options/task-defaults.js';
import type { Runner } from '../runtime/runner.js';
import type { OutputDir } from '../export/outdir.js';
import type { Progress } from '../progress.js';
import { budgetBeside, formatBytes, imagesWithin } from '../memory.js';
import type { FitnessSetup } from '../fitness/fitness.js';
import type { Prepared } from './prepare.js';

/** Where the search's unit inputs beyond the memory budget go, inside OUT's staging folder. */
const UNIT_INPUTS_FOLDER = 'unit-inputs.spill';

export interface ScaleSearch {
  runner: Runner;
  prepared: Prepared;
  table: CalibrationTable;
  calibration: ImageBatch;
  holdout: ImageBatch;
  options: TaskOptions;
  progress: Progress;
  out: OutputDir;
  /** The checkpoint's fingerprint, and the state read from it to resume from. */
  checkpoint: { fingerprint: string; resumeFrom?: SearchState; floatLayers?: string[] };
}

export interface SearchedScales {
  params: Record<string, QuantParams>;
  report: SearchReport;
  /** Images per onnxruntime run of the search's forwards. */
  forwardImages: number;
}

/** The search's memory split: bytes of unit inputs held in memory, and images per onnxruntime run. */
export function searchMemory(
  options: TaskOptions,
  table: CalibrationTable,
  imageBytes: number,
): { unitInputBudget: number; forwardImages: number } {
  // What the budget leaves beside the decoded images: the unit inputs held in memory, and the search's forwards,
  // run in pieces sized as calibration sized its own from the bytes per image of every quantized tensor.
  const unitInputBudget = Math.max(0, options.memoryBudget - imageBytes);
  const forwardImages = imagesWithin(
    budgetBeside(options.memoryBudget, imageBytes),
    table.chunks?.bytesPerImage.ranges ?? 0,
    options.batchSize,
  );
  return { unitInputBudget, forwardImages };
}

/** What the fitness of the search (and of the width sensitivity) runs: the model, its points and units, the images. */
export function fitnessSetup(
  search: Pick<ScaleSearch, 'runner' | 'prepared' | 'table' | 'calibration' | 'holdout' | 'options' | 'out'>,
): FitnessSetup & { forwardImages: number } {
  const { runner, prepared, table, calibration, holdout, options, out } = search;
  const { model, points, units } = prepared;
  const memory = searchMemory(options, table, calibration.data.byteLength + holdout.data.byteLength);
  return {
    runner,
    graph: model.graph,
    simulate: (params, feed) =>
      materialize(model.graph, points, params, { bake: true, feed, inputMeans: table.inputMeans }),
    points,
    units,
    inputName: model.inputName,
    outputName: model.outputName,
    batchSize: options.batchSize,
    forwardImages: memory.forwardImages,
    // Unit inputs beyond the budget go to OUT's staging folder until the search ends.
    unitInputBudget: memory.unitInputBudget,
    spillFolder: out.path(UNIT_INPUTS_FOLDER),
  };
}

/** Runs `--method evolq` from the calibration table's scales, checkpointing into OUT. */
export async function searchScales(search: ScaleSearch): Promise<SearchedScales> {
  const { prepared, table, calibration, holdout, options, progress, out, checkpoint } = search;
  const setup = fitnessSetup(search);
  const { forwardImages } = setup;
  if (forwardImages < options.batchSize) {
    progress.log(
      `search: ${forwardImages} images per onnxruntime run, joined into batches of ${options.batchSize} (--memory-budget ${formatBytes(options.memoryBudget)})`,
    );
  }
  const searched = await evolqSearch(
    {
      ...setup,
      calibration,
      holdout,
      refittedPtf: table.refittedPtf,
      task: prepared.model.task.task,
    },
    table.params,
    searchSettings(options),
    {
      rng: prepared.rng,
      progress,
      checkpoint: {
        file: out.path(CHECKPOINT_FILE),
        fingerprint: checkpoint.fingerprint,
        resumeFrom: checkpoint.resumeFrom,
        floatLayers: checkpoint.floatLayers,
      },
    },
  );
  return { ...searched, forwardImages };
}
