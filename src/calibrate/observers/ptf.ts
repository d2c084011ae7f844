// FQ-ViT's Power-of-Two Factor for LayerNorm inputs: one base scale, per channel a factor 2^α, α ∈ {0..3}.
import { scaleAndZeroPoint, uintRange, type IntRange, type UniformParams } from '../../quant/scheme.js';
import { levelOfScaled } from './levels.js';
import { uniformParams } from './minmax.js';
import type { SampleStatistic } from './sample-statistic.js';

/**
 * Power-of-Two Factor (FQ-ViT) for LayerNorm inputs: base scale s = range / (2^b − 1) / 8, one zero point
 * from the widest scale, and per channel the α ∈ {0..3} whose scale s·2^α has the least error on `sample`
 * (channels on the last axis).
 */
export function ptfParams(
  min: number,
  max: number,
  sample: Float32Array,
  channels: number,
  bits: number,
): UniformParams & { alpha: number[] } {
  const accumulator = new PtfAccumulator(min, max, bits);
  accumulator.add(sample, channels);
  return accumulator.params();
}

/**
 * PTF as a streaming statistic: per channel (the last axis) and α, the running squared error over the values
 * added, summed in the order they come, so chunks give the same sums as one pass over the whole sample.
 */
export class PtfAccumulator implements SampleStatistic {
  static readonly FACTORS = 4;
  private readonly range: IntRange;
  private readonly base: number;
  private readonly zeroPoint: number;
  /** errors[a * channels + c]; sized by the first chunk. */
  private errors?: Float64Array;
  private channels = 0;

  constructor(
    min: number,
    max: number,
    private readonly bits: number,
  ) {
    this.range = uintRange(bits);
    const widest = scaleAndZeroPoint(min, max, this.range);
    this.base = Math.fround(widest.scale / 8);
    this.zeroPoint = widest.zeroPoint;
  }

  /** Adds values laid out as rows of `channels` (the tensor's last axis). */
  add(values: Float32Array, channels: number): void {
    if (!this.errors) {
      this.channels = channels;
      this.errors = new Float64Array(PtfAccumulator.FACTORS * channels);
    } else if (channels !== this.channels) throw new Error(`PTF: ${channels} channels after ${this.channels}`);
    const lo = this.range.qmin - this.zeroPoint;
    const hi = this.range.qmax - this.zeroPoint;
    const errors = this.errors;
    const base = this.base;
    const [s0, s1, s2, s3] = [0, 1, 2, 3].map((a) => Math.fround(base * 2 ** a));
    const e1 = channels;
    const e2 = 2 * channels;
    const e3 = 3 * channels;
    // x / (base·2^a) is (x / base)·2^−a exactly (a power of two), so one division serves the four factors.
    for (let row = 0; row < values.length; row += channels) {
      for (let c = 0; c < channels; c++) {
        const x = values[row + c];
        const v = x / base;
        let d = x - Math.fround(levelOfScaled(v, lo, hi) * s0);
        errors[c] += d * d;
        d = x - Math.fround(levelOfScaled(v * 0.5, lo, hi) * s1);
        errors[e1 + c] += d * d;
        d = x - Math.fround(levelOfScaled(v * 0.25, lo, hi) * s2);
        errors[e2 + c] += d * d;
        d = x - Math.fround(levelOfScaled(v * 0.125, lo, hi) * s3);
        errors[e3 + c] += d * d;
      }
    }
  }

  params(): UniformParams & { alpha: number[] } {
    const alpha: number[] = [];
    for (let c = 0; c < this.channels; c++) {
      let best = { error: Infinity, a: 0 };
      for (let a = 0; a < PtfAccumulator.FACTORS; a++) {
        const error = this.errors![a * this.channels + c];
        if (error < best.error) best = { error, a };
      }
      alpha.push(best.a);
    }
    return {
      ...uniformParams(this.bits, [this.base], [this.zeroPoint], -1),
      channelFactor: Float32Array.from(alpha, (a) => 2 ** a),
      alpha,
    };
  }
}
