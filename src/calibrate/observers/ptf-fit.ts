// PTF refitted to what its reader sees (Evol-Q's `--start fitted`): a shrunk range and finer factors per channel.
import { scaleAndZeroPoint, uintRange, type UniformParams } from '../../quant/scheme.js';
import { levelOfScaled } from './levels.js';
import { uniformParams } from './minmax.js';
import type { PtfRows, SampleStatistic } from './sample-statistic.js';

/**
 * PtfFit's factors per octave for `--start fitted`: 2 (α in halves) came closer to the float model than powers
 * of two, and 4 no closer (docs/notes/calibrate.md).
 */
export const PTF_FIT_STEPS = 2;

/**
 * PTF refitted to what the LayerNorm reads (an Evol-Q start, `--start fitted`): the shared base scale comes from
 * the min-max range shrunk by each of `RATIOS` in turn, and per channel the factor 2^α, α ∈ {0, 1/steps, …, 3},
 * with the least error as the LayerNorm sees it, (x − x̂)² / σ²_row (a row is one token; the LayerNorm divides it
 * by its own standard deviation); the ratio whose channels' least errors sum lowest wins. FQ-ViT's PTF keeps the
 * whole range and weighs every row alike, which at 4 bits spends the 16 levels on the range's rare extremes.
 * `steps` 1 keeps FQ-ViT's powers of two (its integer LayerNorm needs them); more steps per octave fit each
 * channel closer (PTF_FIT_STEPS). With `rows` 'plain' every row weighs alike: the error as a MatMul reads its
 * input (a LayerNorm's output, Q, the attention output), where one per-tensor scale spends the levels on the few
 * channels that are many times larger than the rest.
 */
export class PtfFit implements SampleStatistic {
  static readonly RATIOS = [1, 0.85, 0.7, 0.6, 0.5, 0.42, 0.35, 0.3, 0.25];
  /**
   * Rows fitted on: the first this many it is given (a row is a token, or a token of one head for Q, K and V).
   * Each costs RATIOS × factors quantizations a value, so the cap bounds the refit's time on large inputs
   * (docs/notes/calibrate.md).
   */
  static readonly MAX_ROWS = 8192;
  private rowsSeen = 0;
  private readonly factors: number[];
  private readonly lo: number[] = [];
  private readonly hi: number[] = [];
  private readonly bases: number[] = [];
  private readonly zeroPoints: number[] = [];
  /** errors[(r · FACTORS + a) · channels + c]; sized by the first chunk. */
  private errors?: Float64Array;
  private channels = 0;

  constructor(
    min: number,
    max: number,
    private readonly bits: number,
    steps = 1,
    private readonly rows: PtfRows = 'layernorm',
  ) {
    if (!Number.isInteger(steps) || steps < 1)
      throw new Error(`PtfFit: steps must be a positive integer, got ${steps}`);
    this.factors = Array.from({ length: 3 * steps + 1 }, (_, a) => 2 ** (a / steps));
    const range = uintRange(bits);
    for (const ratio of PtfFit.RATIOS) {
      const widest = scaleAndZeroPoint(min * ratio, max * ratio, range);
      this.bases.push(Math.fround(widest.scale / 8));
      this.zeroPoints.push(widest.zeroPoint);
      this.lo.push(range.qmin - widest.zeroPoint);
      this.hi.push(range.qmax - widest.zeroPoint);
    }
  }

  add(values: Float32Array, channels: number): void {
    const factors = this.factors.length;
    if (!this.errors) {
      this.channels = channels;
      this.errors = new Float64Array(PtfFit.RATIOS.length * factors * channels);
    } else if (channels !== this.channels) throw new Error(`PTF: ${channels} channels after ${this.channels}`);
    const errors = this.errors;
    const end = Math.min(values.length, (PtfFit.MAX_ROWS - this.rowsSeen) * channels);
    this.rowsSeen += end / channels;
    for (let row = 0; row < end; row += channels) {
      const weight = this.rows === 'plain' ? 1 : 1 / (rowVariance(values, row, channels) + 1e-6);
      for (let r = 0; r < this.bases.length; r++) {
        const base = this.bases[r];
        const lo = this.lo[r];
        const hi = this.hi[r];
        for (let a = 0; a < factors; a++) {
          const scale = Math.fround(base * this.factors[a]);
          const shrink = 1 / this.factors[a];
          const offset = (r * factors + a) * channels;
          for (let c = 0; c < channels; c++) {
            const x = values[row + c];
            const d = x - Math.fround(levelOfScaled((x / base) * shrink, lo, hi) * scale);
            errors[offset + c] += weight * d * d;
          }
        }
      }
    }
  }

  params(): UniformParams {
    const factors = this.factors.length;
    const channels = this.channels;
    let best = { total: Infinity, r: 0, alpha: [] as number[] };
    for (let r = 0; r < this.bases.length; r++) {
      let total = 0;
      const alpha: number[] = [];
      for (let c = 0; c < channels; c++) {
        let least = { error: Infinity, a: 0 };
        for (let a = 0; a < factors; a++) {
          const error = this.errors![(r * factors + a) * channels + c];
          if (error < least.error) least = { error, a };
        }
        total += least.error;
        alpha.push(least.a);
      }
      if (total < best.total) best = { total, r, alpha };
    }
    return {
      ...uniformParams(this.bits, [this.bases[best.r]], [this.zeroPoints[best.r]], -1),
      channelFactor: Float32Array.from(best.alpha, (a) => this.factors[a]),
    };
  }
}

/** The variance of the `channels` values from `row`. */
function rowVariance(values: Float32Array, row: number, channels: number): number {
  let mean = 0;
  for (let c = 0; c < channels; c++) mean += values[row + c];
  mean /= channels;
  let variance = 0;
  for (let c = 0; c < channels; c++) variance += (values[row + c] - mean) ** 2;
  return variance / channels;
}
