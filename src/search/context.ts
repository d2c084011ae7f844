// What every phase of one search reads: its setup, settings and hooks, the fitness, the budget, the holdout scorer.
import type { QuantParams } from '../quant/scheme.js';
import type { Fitness } from '../fitness/fitness.js';
import type { ImagesRan, ScoredImages } from '../fitness/batches.js';
import type { Progress } from '../progress.js';
import type { MacBudget } from './budget.js';
import type { HoldoutScorer } from './holdout.js';
import type { SearchHooks, SearchSettings, SearchSetup } from './settings.js';

export interface SearchRun {
  setup: SearchSetup;
  settings: SearchSettings;
  hooks: SearchHooks;
  progress: Progress;
  fitness: Fitness;
  /** The calibration images with their float logits. */
  calibration: ScoredImages;
  budget: MacBudget;
  score: HoldoutScorer;
}

/** The progress of the search's setup step, in images: what ran, and what turned out not to run. */
export interface SetupProgress {
  ran: ImagesRan;
  skipped(images: number): void;
}

export function setupProgress(progress: Progress, total: number): SetupProgress {
  let images = 0;
  return {
    ran: (n) => progress.update((images += n)),
    skipped: (n) => progress.update(images, { total: total - n }),
  };
}

/** Each unit's points with scales to search: uniform in the start (`fitted` puts a low-bit softmax on log√2). */
export function searchableIn(units: SearchSetup['units'], params: Readonly<Record<string, QuantParams>>): string[][] {
  return units.map((u) => u.points.filter((id) => params[id]?.kind === 'uniform'));
}
