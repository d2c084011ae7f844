// The search's work in multiply-accumulates (src/fitness/cost.ts): every forward the search runs is counted here,
// and `--search-budget` decides from these counts whether another pass starts.
import type { ForwardCost } from '../fitness/cost.js';
import type { SearchState } from './state.js';

/** What a pass's work depends on besides the model: the images of each set, the cycles per unit. */
export interface PassSizes {
  calibrationImages: number;
  holdoutImages: number;
  cycles: number;
}

/** The MACs of the candidates of units `to`..0 of a pass, every candidate run whole. */
function candidatesFrom(cost: ForwardCost, sizes: PassSizes, to: number): number {
  return cost.suffixPerImage.slice(0, to + 1).reduce((n, m) => n + m, 0) * sizes.calibrationImages * sizes.cycles;
}

/**
 * What one pass costs with every candidate run whole (no racing): the quantized forward of the calibration images,
 * every unit's candidates on its suffix, the holdout forward.
 */
export function wholePassMacs(cost: ForwardCost, sizes: PassSizes): number {
  return (
    cost.perImage * sizes.calibrationImages +
    candidatesFrom(cost, sizes, cost.suffixPerImage.length - 1) +
    cost.perImage * sizes.holdoutImages
  );
}

/** Forwards of `images` cut at each of `fetches` (a forward runs only the nodes its fetches are computed from). */
export function cutForwardMacs(cost: ForwardCost, images: number, fetches: readonly (readonly string[])[]): number {
  return images * fetches.reduce((n, fetch) => n + cost.upTo(fetch), 0);
}

/** The MACs spent so far (kept in the search state, so a resumed run decides as the uninterrupted one). */
export class MacBudget {
  constructor(
    readonly cost: ForwardCost,
    private readonly sizes: PassSizes,
    private readonly limits: { passes: number; searchBudget: number },
    readonly macs: SearchState['macs'] = { spent: 0, passStart: 0, passes: [] },
  ) {}

  /** The float model's forwards of the calibration and holdout images, whose logits every fitness compares with. */
  floatReferences(): void {
    this.macs.spent += this.cost.perImage * (this.sizes.calibrationImages + this.sizes.holdoutImages);
  }

  /** A quantized forward of the whole model over the calibration images. */
  calibrationForward(): void {
    this.macs.spent += this.cost.perImage * this.sizes.calibrationImages;
  }

  /** A quantized forward of the whole model over the holdout images. */
  holdoutForward(): void {
    this.macs.spent += this.cost.perImage * this.sizes.holdoutImages;
  }

  /** Forwards of `images` cut at each of `fetches`. */
  cutForwards(images: number, fetches: readonly (readonly string[])[]): void {
    this.macs.spent += cutForwardMacs(this.cost, images, fetches);
  }

  /** What the setup spent is behind: passes are counted from here. Returns the state's record. */
  beforePasses(): SearchState['macs'] {
    this.macs.passStart = this.macs.spent;
    return this.macs;
  }

  /** A pass starts with its calibration forward (counted once, not again when a resumed run repeats it). */
  passStarted(): void {
    this.macs.passStart = this.macs.spent;
    this.calibrationForward();
  }

  /** Unit `unit`'s candidates: `suffixForwards` of its suffix over the calibration images, in whole ones. */
  candidates(unit: number, suffixForwards: number): void {
    this.macs.spent += this.cost.suffixPerImage[unit] * this.sizes.calibrationImages * suffixForwards;
  }

  /** A pass ends (after its holdout forward): its cost is what every later pass is judged by. */
  passEnded(): void {
    this.macs.passes.push(this.macs.spent - this.macs.passStart);
  }

  /** A pass's cost: the last one's, or before any has ended, what one costs with every candidate run whole. */
  passCost(): number {
    return this.macs.passes[this.macs.passes.length - 1] ?? wholePassMacs(this.cost, this.sizes);
  }

  /** Passes the budget lets run, judged by the last pass's cost (the first pass always runs). */
  plannedPasses(): number {
    const { passes, searchBudget } = this.limits;
    if (!searchBudget) return passes;
    const done = this.macs.passes.length;
    // Before the first pass ends, from the MACs it can cost at most (the first always runs).
    const spent = done ? this.macs.spent : this.macs.passStart + this.passCost();
    return Math.min(passes, Math.max(done, 1) + Math.max(0, Math.floor((searchBudget - spent) / this.passCost())));
  }

  /**
   * Seconds left: the MACs left at the seconds per MAC so far. The rest of this pass counts its candidates at the
   * share `raced` of them that racing has run so far; later passes at the last pass's cost.
   */
  secondsLeft(planned: number, at: { pass: number; nextUnit: number; seconds: number }, raced: number): number {
    const inPass = at.nextUnit < this.cost.suffixPerImage.length - 1;
    const holdoutForward = this.cost.perImage * this.sizes.holdoutImages;
    const rest = inPass ? candidatesFrom(this.cost, this.sizes, at.nextUnit) * raced + holdoutForward : 0;
    const later = Math.max(0, planned - (at.pass - 1) - (inPass ? 1 : 0)) * this.passCost();
    return (at.seconds / this.macs.spent) * (rest + later);
  }

  /** The report's record: the model's MACs per image, spent in all, the budget, each pass's cost. */
  report(): { perImage: number; spent: number; budget: number; passes: number[] } {
    return {
      perImage: this.cost.perImage,
      spent: this.macs.spent,
      budget: this.limits.searchBudget,
      passes: this.macs.passes,
    };
  }
}
