// The search's state: everything a resumed run needs to continue bit for bit.
import type { HoldoutScore } from './selection.js';
import type { StartName } from './start.js';

export interface UnitRecord {
  pass: number;
  unit: number;
  name: string;
  /** Fitness of the unit's starting point (reused from the unit searched before it) and of the best member. */
  before: number;
  after: number;
  evaluations: number;
  /** Evaluations that racing stopped early (the candidate was worse than the member it would replace). */
  stopped: number;
  seconds: number;
}

export interface SearchState {
  /** 1-based pass in progress. */
  pass: number;
  /** Index of the next unit to search in this pass (units go from last to first); -1 when the pass is done. */
  nextUnit: number;
  /** The current scales of every searched point. */
  scales: Record<string, number[]>;
  /** The fitness of the current scales on the calibration set, and each image's term of it (for racing). */
  fitness: number;
  rows: number[];
  rng: number[];
  /** The holdout scores after each pass; index 0 is the baseline before any search. */
  holdout: HoldoutScore[];
  /** The baseline's selection measure per holdout image, which every pass is compared with. */
  baselinePerImage: number[] | null;
  /** The pass kept so far (0: the baseline, or with `start` the unsearched start) and its scales. */
  best: { pass: number; start?: true; scales: Record<string, number[]> };
  trajectory: UnitRecord[];
  evaluations: number;
  seconds: number;
  /** Multiply-accumulates spent so far, when the pass in progress started, and each finished pass's cost. */
  macs: { spent: number; passStart: number; passes: number[] };
  /**
   * The start the search runs from (with `--start auto`, the one chosen), each candidate start's calibration
   * fitness, and where it is not the baseline, its holdout score: the unsearched start can be kept too.
   */
  start: {
    chosen: StartName;
    fitness?: Partial<Record<StartName, number>>;
    holdout?: HoldoutScore;
    /**
     * `--output-correction`: layers corrected (`firstToken` of them with the first token apart), images their means came
     * from, the calibration fitness before and after, whether it was kept.
     */
    outputCorrection?: {
      layers: number;
      firstToken: number;
      images: number;
      before: number;
      after: number;
      kept: boolean;
    };
  };
  /** The kept output correction per weight point (a resumed run starts from it). */
  outputCorrections?: Record<string, number[]>;
}
