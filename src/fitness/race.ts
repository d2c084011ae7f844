// Racing: a candidate that is surely worse than the population member it would replace can only be dropped, so
// its evaluation stops there instead of running every batch.
import type { Scored } from './batches.js';

/**
 * Racing a candidate against a rival (the population member it would replace): after each batch but the last,
 * once `minImages` images are in, the candidate stops when its mean per-image difference to the rival is above
 * `z` standard errors; it could then only have been dropped. `z` 0 evaluates every candidate on every image.
 */
export interface RaceSettings {
  z: number;
  minImages: number;
}

/** Images a race must see before it may stop a candidate: enough for the standard error to mean something. */
export const RACE_MIN_IMAGES = 100;

/** One candidate's race: the sums of its per-image differences to the rival over the batches seen so far. */
export class Race {
  private sum = 0;
  private squares = 0;

  constructor(
    private readonly settings: RaceSettings,
    private readonly batches: number,
    private readonly rival?: Scored,
  ) {}

  /** After batch `b`, images [start, end), has its terms in `rows`: false once the candidate is surely worse. */
  goesOn(rows: Float64Array, b: number, [start, end]: [number, number]): boolean {
    const { z, minImages } = this.settings;
    if (!this.rival || z <= 0 || b === this.batches - 1) return true;
    for (let i = start; i < end; i++) {
      const d = rows[i] - this.rival.rows[i];
      this.sum += d;
      this.squares += d * d;
    }
    if (end < minImages) return true;
    const mean = this.sum / end;
    const standardError = Math.sqrt(Math.max(0, this.squares / end - mean * mean) / Math.max(1, end - 1));
    return !(mean > z * standardError);
  }
}
