// What the search reports: passes run and why it stopped, its work, what was kept and why, the trajectory.
import type { Fitness } from '../fitness/fitness.js';
import type { SpillReport } from '../fitness/unit-inputs.js';
import type { Progress } from '../progress.js';
import type { MacBudget } from './budget.js';
import type { SearchSettings } from './settings.js';
import type { SearchState, UnitRecord } from './state.js';
import { whyKept, type HoldoutScore, type Selection } from './selection.js';

export interface SearchReport {
  passes: number;
  /** Passes run: fewer than `passes` when the holdout measure stopped improving (see `patience`). */
  passesRun: number;
  stoppedEarly: boolean;
  /** Why it ran fewer passes than asked: the holdout stopped improving, or the next pass would exceed the budget. */
  stoppedBy: 'patience' | 'budget' | null;
  /** The search's work in multiply-accumulates: the model's per image, spent in all, the budget, each pass's cost. */
  macs: { perImage: number; spent: number; budget: number; passes: number[] };
  /** The pass kept: 0 for the baseline or, with `keptStart`, the start before any pass. */
  keptPass: number;
  keptStart: boolean;
  /** One sentence: why the kept result was kept. */
  why: string;
  select: Selection;
  /** The baseline (pass 0) and every pass on the holdout images. */
  holdout: HoldoutScore[];
  trajectory: UnitRecord[];
  evaluations: number;
  /** Suffix evaluations (and in whole ones, racing counted), full quantized forwards over the calibration set, holdout forwards. */
  forwards: { suffix: number; suffixEquivalent: number; fullCalibration: number; holdout: number };
  /** Candidates that racing stopped before their last batch. */
  stopped: number;
  seconds: number;
  resumedFrom?: { pass: number; nextUnit: number };
  /** The cached unit inputs of a pass: bytes held in memory and spilled to disk (deleted after the search). */
  unitInputs?: SpillReport;
  /** The start the passes ran from; with `--start auto`, each candidate's fitness on the calibration images; its holdout score. */
  start: SearchState['start'];
}

const tera = (macs: number) => `${(macs / 1e12).toFixed(1)}T`;

/** Says why the search ran fewer passes than asked, if it did. */
export function logStop(
  progress: Progress,
  stoppedBy: SearchReport['stoppedBy'],
  state: SearchState,
  settings: SearchSettings,
): void {
  if (stoppedBy === 'patience')
    progress.log(
      `search: stopped after pass ${state.pass - 1}: the holdout ${settings.select} has not improved for ${settings.patience} passes`,
    );
  if (stoppedBy === 'budget') {
    progress.log(
      `search: stopped after pass ${state.pass - 1}: another pass (${tera(state.macs.passes[state.macs.passes.length - 1])} MACs) would take the ${tera(state.macs.spent)} spent over --search-budget ${tera(settings.searchBudget)}`,
    );
  }
}

/** The report of a search that ended in `state`. */
export function searchReport(
  state: SearchState,
  ended: {
    settings: SearchSettings;
    stoppedBy: SearchReport['stoppedBy'];
    budget: MacBudget;
    fitness: Fitness;
    holdoutImages: number;
    resumedFrom?: SearchReport['resumedFrom'];
    unitInputs?: SpillReport;
  },
): SearchReport {
  const { settings } = ended;
  const kept = state.best;
  return {
    passes: settings.passes,
    passesRun: state.holdout.length - 1,
    stoppedEarly: ended.stoppedBy !== null,
    stoppedBy: ended.stoppedBy,
    macs: ended.budget.report(),
    keptPass: kept.pass,
    keptStart: !!kept.start,
    why: whyKept(
      settings.select,
      state.holdout,
      kept.pass,
      ended.holdoutImages,
      state.start.holdout && { name: state.start.chosen, score: state.start.holdout, kept: !!kept.start },
    ),
    select: settings.select,
    holdout: state.holdout,
    trajectory: state.trajectory,
    evaluations: state.evaluations,
    forwards: ended.fitness.forwards,
    stopped: state.trajectory.reduce((n, r) => n + r.stopped, 0),
    seconds: state.seconds,
    resumedFrom: ended.resumedFrom,
    unitInputs: ended.unitInputs,
    start: state.start,
  };
}
