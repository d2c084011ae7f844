// What the search is given: the images and graph it runs on, the settings it runs with, and its hooks.
import type { QuantParams } from '../quant/scheme.js';
import type { ImageBatch } from '../data/imagefolder.js';
import type { TaskOptions } from '../options/task-defaults.js';
import type { Loss } from '../fitness/losses.js';
import type { FitnessSetup } from '../fitness/fitness.js';
import type { Mutation } from './evolution.js';
import type { SearchStart } from './start.js';
import type { SearchState } from './state.js';
import type { Selection } from './selection.js';
import type { Rng } from '../rng.js';
import type { Task } from '../task.js';
import type { Progress } from '../progress.js';

export interface SearchSetup extends FitnessSetup {
  calibration: ImageBatch;
  holdout: ImageBatch;
  /** Calibration's PTF refits (CalibrationTable.refittedPtf): `--start fitted` needs them, `auto` tries them. */
  refittedPtf?: Readonly<Record<string, QuantParams>>;
  /** What the output is: the holdout reports a classifier's top-1 and agreement, or an encoder's cosine to float. */
  task?: Task;
}

export interface SearchSettings {
  passes: number;
  cycles: number;
  population: number;
  tournament: number;
  loss: Loss;
  temperature: number;
  mutation: Mutation;
  /** Mutation half-width (absolute, or relative with mutation 'relative', 'joint' or 'point'). */
  radius: number;
  /** How the kept result is chosen on the holdout images. */
  select: Selection;
  /** Stop after this many passes in a row without a new lowest holdout measure (0: run every pass). */
  patience: number;
  /** Race each candidate against the member it would replace, stopping it once worse by this many standard errors (0: off). */
  race: number;
  /** Multiply-accumulates the search may spend: no pass starts that the last pass's cost would take over it (0: no limit). */
  searchBudget: number;
  /** The scales pass 1 starts from, or `auto` for the one with the lower calibration fitness (the baseline stays pass 0 of the selection, the start is a candidate of its own). */
  start: SearchStart;
  /** Correct each layer's mean output on the start (src/search/output-correction.ts), kept if it lowers the calibration fitness. */
  outputCorrection: boolean;
}

export interface SearchHooks {
  rng: Rng;
  progress?: Progress;
  /** Where to write a checkpoint after every unit, and the state read from it to resume from. */
  checkpoint?: { file: string; fingerprint: string; resumeFrom?: SearchState; floatLayers?: string[] };
}

/** Paper default mutation range: ±1e-3 at 3 and 4 bits, ±1e-4 at 8 bits (absolute, as in the Evol-Q code). */
export function defaultRadius(wBits: number): number {
  return wBits >= 8 ? 1e-4 : 1e-3;
}

/** `--mutation relative`, `joint` and `point`: ±5% of each scale, about what the absolute defaults are for ViT weight scales. */
export const RELATIVE_RADIUS = 0.05;

/** The search settings the quantize options ask for (quantize and bench both run the search with them). */
export function searchSettings(options: TaskOptions): SearchSettings {
  return {
    passes: options.passes,
    cycles: options.cycles,
    population: options.population,
    tournament: 10,
    loss: options.loss,
    temperature: options.temperature,
    mutation: options.mutation,
    radius: options.mutation === 'absolute' ? defaultRadius(options.wBits) : RELATIVE_RADIUS,
    select: options.select,
    patience: options.patience,
    race: options.race,
    searchBudget: options.searchBudget,
    start: options.start,
    outputCorrection: options.outputCorrection,
  };
}
