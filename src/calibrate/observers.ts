// Observers turn statistics into quantizer parameters (FQ-ViT: minmax, percentile, OMSE, PTF); pure functions.
import { scaleAndZeroPoint, uintRange, type IntRange, type UniformParams } from '../quant/scheme.js';
import type { TensorStats } from './collect.js';

function uniform(
  bits: number,
  scale: number[] | Float32Array,
  zeroPoint: number[] | Float32Array,
  axis: number | null,
): UniformParams {
  return { kind: 'uniform', bits, scale: Float32Array.from(scale), zeroPoint: Float32Array.from(zeroPoint), axis };
}

export function minmaxParams(min: number, max: number, bits: number): UniformParams {
  const { scale, zeroPoint } = scaleAndZeroPoint(min, max, uintRange(bits));
  return uniform(bits, [scale], [zeroPoint], null);
}

/** round(v) half to even for |v| < 2^31: floor(v + 0.5) is exact for float32 v, then fix the odd ties. */
function roundHalfEvenFast(v: number): number {
  const r = Math.floor(v + 0.5);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Σ (x − x̂)² over x[start], x[start + step], … with x̂ computed exactly as the graph does. */
export function squaredError(
  x: Float32Array,
  scale: number,
  zeroPoint: number,
  range: IntRange,
  start = 0,
  step = 1,
): number {
  const lo = range.qmin - zeroPoint;
  const hi = range.qmax - zeroPoint;
  let sum = 0;
  for (let i = start; i < x.length; i += step) {
    const xi = x[i];
    const r = roundHalfEvenFast(Math.fround(xi / scale));
    const q = r < lo ? lo : r > hi ? hi : r;
    const d = xi - Math.fround(q * scale);
    sum += d * d;
  }
  return sum;
}

/** A statistic of the sample batch, fed its tensors chunk by chunk (rows of `channels`, the last axis). */
export interface SampleStatistic {
  add(values: Float32Array, channels: number): void;
  params(): UniformParams;
}

/** The order-preserving 32-bit key of a float32 (its bit pattern, negatives flipped), NaN excluded. */
const keyBits = new Uint32Array(1);
const keyFloat = new Float32Array(keyBits.buffer);
function floatKey(v: number): number {
  keyFloat[0] = v;
  const b = keyBits[0];
  return b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
}
function keyFloatValue(key: number): number {
  keyBits[0] = key & 0x80000000 ? key & 0x7fffffff : ~key >>> 0;
  return keyFloat[0];
}

/** A uniform quantizer's integer level of v, exactly as the graph computes it (levels are monotone in v). */
function levelOf(v: number, scale: number, lo: number, hi: number): number {
  const r = roundHalfEvenFast(Math.fround(v / scale));
  return r < lo ? lo : r > hi ? hi : r;
}

/** levelOf with the division done: v = x / scale in float64. */
function levelOfScaled(v: number, lo: number, hi: number): number {
  const r = roundHalfEvenFast(Math.fround(v));
  return r < lo ? lo : r > hi ? hi : r;
}

/** Grid cells per bound: 16 ran 1.9× faster than a 20-bit key-prefix table on ViT-S/16's activations (4 images). */
const CELLS_PER_BOUND = 16;

/**
 * OMSE as a streaming statistic: the squared error of each of the 90 candidate quantizers over every value
 * added, without keeping the values. A candidate's levels are monotone in x, so each level is an interval of
 * float32 keys; the boundaries of all candidates cut the line into intervals, and per interval the count and Σx
 * (float64, in the order values arrive), with Σx² over all values, give every candidate's error exactly up to
 * rounding: Σx² + Σ over levels k of m_k·x̂_k² − 2·x̂_k·Σ_k x. Values may come in chunks of any size.
 */
export class OmseAccumulator implements SampleStatistic {
  static readonly CANDIDATES = 90;
  private readonly range: IntRange;
  private readonly candidates: { scale: number; zeroPoint: number; lo: number; hi: number; cuts: Uint32Array }[] = [];
  /** Sorted distinct boundary keys: interval j holds keys in [bounds[j − 1], bounds[j]). */
  private readonly bounds: Uint32Array;
  /**
   * A uniform grid of cells over [min, max] in value space: per cell g, the number of bounds whose value falls
   * in a cell before g (CELLS_PER_BOUND cells a bound). A value's cell is a monotone function of the value,
   * so every bound of an earlier cell is below it and every bound of a later cell above: the search is only
   * among its own cell's bounds (mostly none or one), and the table is a third of a 20-bit key-prefix table's size.
   */
  private readonly below: Uint16Array;
  private readonly gridMin: number;
  private readonly cellsPerUnit: number;
  private readonly lastCell: number;
  /** Per interval j: count and Σx at 2j and 2j + 1 (two doubles, not three: the values' Σx² is one number). */
  private readonly sums: Float64Array;
  private squares = 0;

  constructor(
    min: number,
    max: number,
    private readonly bits: number,
  ) {
    this.range = uintRange(bits);
    const levels = this.range.qmax - this.range.qmin;
    const all = new Uint32Array(OmseAccumulator.CANDIDATES * levels);
    for (let i = 0; i < OmseAccumulator.CANDIDATES; i++) {
      const factor = 1 - 0.01 * i;
      const { scale, zeroPoint } = scaleAndZeroPoint(min * factor, max * factor, this.range);
      const lo = this.range.qmin - zeroPoint;
      const hi = this.range.qmax - zeroPoint;
      // The first key whose level exceeds k, for k = lo .. hi − 1: near (k + ½)·scale, then exact by stepping
      // one float at a time (levels are monotone, so the walk ends at the one key where the level steps).
      for (let k = lo; k < hi; k++) {
        let key = floatKey(Math.fround((k + 0.5) * scale));
        while (levelOf(keyFloatValue(key - 1), scale, lo, hi) > k) key--;
        while (levelOf(keyFloatValue(key), scale, lo, hi) <= k) key++;
        all[i * levels + k - lo] = key;
      }
      this.candidates.push({ scale, zeroPoint, lo, hi, cuts: new Uint32Array(0) });
    }
    const sorted = Uint32Array.from(all).sort();
    let distinct = 0;
    for (let j = 0; j < sorted.length; j++) if (j === 0 || sorted[j] !== sorted[j - 1]) sorted[distinct++] = sorted[j];
    this.bounds = sorted.slice(0, distinct);
    const indexOf = (key: number) => {
      let a = 0;
      let b = this.bounds.length - 1;
      while (a < b) {
        const mid = (a + b) >>> 1;
        if (this.bounds[mid] < key) a = mid + 1;
        else b = mid;
      }
      return a;
    };
    this.candidates.forEach((c, i) => (c.cuts = all.subarray(i * levels, (i + 1) * levels).map(indexOf)));
    this.sums = new Float64Array(2 * (this.bounds.length + 1));
    const cells = Math.max(16, CELLS_PER_BOUND * this.bounds.length);
    this.gridMin = min;
    this.cellsPerUnit = max > min ? cells / (max - min) : 1;
    this.lastCell = cells - 1;
    // At most 90 · 255 bounds, so the counts fit 16 bits.
    this.below = new Uint16Array(cells + 1);
    for (const key of this.bounds) this.below[this.cell(keyFloatValue(key)) + 1]++;
    for (let g = 0; g < cells; g++) this.below[g + 1] += this.below[g];
  }

  /** The grid cell of a value, clamped to the grid (the same expression as in `add`). */
  private cell(x: number): number {
    const u = (x - this.gridMin) * this.cellsPerUnit;
    return u < 0 ? 0 : u >= this.lastCell ? this.lastCell : u | 0;
  }

  /** Adds values (NaN skipped). */
  add(values: Float32Array): void {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    const { bounds, sums, below, gridMin, cellsPerUnit, lastCell } = this;
    let squares = this.squares;
    for (let i = 0; i < values.length; i++) {
      const x = values[i];
      if (x !== x) continue;
      const b = bits[i];
      const key = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
      const u = (x - gridMin) * cellsPerUnit;
      const cell = u < 0 ? 0 : u >= lastCell ? lastCell : u | 0;
      // The interval is the number of bounds ≤ key: all bounds of earlier cells, then those of its own cell.
      let a = below[cell];
      let c = below[cell + 1];
      while (a < c) {
        const mid = (a + c) >>> 1;
        if (bounds[mid] <= key) a = mid + 1;
        else c = mid;
      }
      const j = 2 * a;
      sums[j]++;
      sums[j + 1] += x;
      squares += x * x;
    }
    this.squares = squares;
  }

  /** The squared error of candidate i over the values added. */
  candidateError(i: number): number {
    const { scale, lo, hi, cuts } = this.candidates[i];
    let total = this.squares;
    let j = 0;
    for (let k = lo; k <= hi; k++) {
      const end = k < hi ? cuts[k - lo] : this.bounds.length; // last interval of level k
      let m = 0;
      let s1 = 0;
      for (; j <= end; j++) {
        m += this.sums[2 * j];
        s1 += this.sums[2 * j + 1];
      }
      if (!m) continue;
      const c = Math.fround(k * scale);
      total += m * c * c - 2 * c * s1;
    }
    return Math.max(0, total);
  }

  /** The candidate with the least squared error (the first on ties). */
  params(): UniformParams {
    let best = { error: Infinity, i: 0 };
    for (let i = 0; i < this.candidates.length; i++) {
      const error = this.candidateError(i);
      if (error < best.error) best = { error, i };
    }
    const { scale, zeroPoint } = this.candidates[best.i];
    return uniform(this.bits, [scale], [zeroPoint], null);
  }
}

/** OMSE: shrink the min-max range by 1 − 0.01·i, i = 0..89, keep the least squared error on `sample`. */
export function omseParams(min: number, max: number, sample: Float32Array, bits: number): UniformParams {
  const accumulator = new OmseAccumulator(min, max, bits);
  accumulator.add(sample);
  return accumulator.params();
}

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
      ...uniform(this.bits, [this.base], [this.zeroPoint], -1),
      channelFactor: Float32Array.from(alpha, (a) => 2 ** a),
      alpha,
    };
  }
}

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
   * Each costs RATIOS × factors quantizations a value; a LayerNorm output of vit-cifar10's sample batch (100 images
   * of 65 tokens) fits whole, of ViT-S/16 at 224 px (197 tokens) on its first 42 images instead of 100 (with
   * every MatMul input refitted, calibrating 10 images took 4.8× as long).
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
      ...uniform(this.bits, [this.bases[best.r]], [this.zeroPoints[best.r]], -1),
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

/**
 * A statistic of the sample batch by name, so it can be made where the sample is (a worker thread): OMSE,
 * FQ-ViT's PTF, or PTF refitted to what the LayerNorm reads.
 */
export interface SampleSpec {
  kind: 'omse' | 'ptf' | 'ptf-fit';
  bits: number;
  /** 'ptf-fit': factors per octave (PtfFit). */
  steps?: number;
  /** 'ptf-fit': how its rows weigh (PtfFit). */
  rows?: PtfRows;
}

/** How PtfFit weighs a row's error: divided by the row's variance, as a LayerNorm reads it, or each alike. */
export type PtfRows = 'layernorm' | 'plain';

const SAMPLE_STATISTICS: Record<
  SampleSpec['kind'],
  new (min: number, max: number, bits: number, steps?: number, rows?: PtfRows) => SampleStatistic
> = {
  omse: OmseAccumulator,
  ptf: PtfAccumulator,
  'ptf-fit': PtfFit,
};

/**
 * PtfFit's factors per octave for `--start fitted`: 2 (α in halves) lowered vit-cifar10 W4A4's KL to float by 11%
 * against powers of two (0.0497 → 0.0442 for the fitted start, seed 0, on 2,000 training images outside the
 * draw); 4 gave no more (0.0447).
 */
export const PTF_FIT_STEPS = 2;

/** The statistic `spec` names, over the range [min, max] observed on every image. */
export function sampleStatistic(spec: SampleSpec, min: number, max: number): SampleStatistic {
  return new SAMPLE_STATISTICS[spec.kind](min, max, spec.bits, spec.steps, spec.rows);
}

/** Per-output-channel min-max parameters of a weight tensor. */
export function weightParams(values: Float32Array, dims: readonly number[], axis: number, bits: number): UniformParams {
  const channels = dims[axis];
  let inner = 1;
  for (let d = axis + 1; d < dims.length; d++) inner *= dims[d];
  const min = new Array(channels).fill(Infinity);
  const max = new Array(channels).fill(-Infinity);
  for (let i = 0; i < values.length; i++) {
    const c = Math.floor(i / inner) % channels;
    if (values[i] < min[c]) min[c] = values[i];
    if (values[i] > max[c]) max[c] = values[i];
  }
  const range = uintRange(bits);
  const params = min.map((lo, c) => scaleAndZeroPoint(lo, max[c], range));
  return uniform(
    bits,
    params.map((p) => p.scale),
    params.map((p) => p.zeroPoint),
    axis,
  );
}

/**
 * Min-max parameters per block of `block` consecutive rows of each column of a [K, N] weight (K a multiple of
 * `block`), laid out [K / block, N].
 */
export function blockedWeightParams(
  values: Float32Array,
  dims: readonly number[],
  block: number,
  bits: number,
): UniformParams {
  const [rows, columns] = dims;
  const blocks = rows / block;
  const min = new Array(blocks * columns).fill(Infinity);
  const max = new Array(blocks * columns).fill(-Infinity);
  for (let i = 0; i < values.length; i++) {
    const j = Math.floor(i / columns / block) * columns + (i % columns);
    if (values[i] < min[j]) min[j] = values[i];
    if (values[i] > max[j]) max[j] = values[i];
  }
  const range = uintRange(bits);
  const params = min.map((lo, j) => scaleAndZeroPoint(lo, max[j], range));
  return {
    ...uniform(
      bits,
      params.map((p) => p.scale),
      params.map((p) => p.zeroPoint),
      1,
    ),
    block: { size: block, blocks },
  };
}

/** The q-quantile of values by selection (linear interpolation between order statistics, as torch.quantile). */
export function quantile(values: Float32Array, q: number): number {
  const data = Float32Array.from(values);
  const position = q * (data.length - 1);
  const lower = Math.floor(position);
  const a = select(data, lower);
  if (lower === position) return a;
  const b = select(data, lower + 1);
  return a + (b - a) * (position - lower);
}

function select(data: Float32Array, k: number): number {
  let lo = 0;
  let hi = data.length - 1;
  while (lo < hi) {
    const pivot = data[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (data[i] < pivot) i++;
      while (data[j] > pivot) j--;
      if (i <= j) {
        const t = data[i];
        data[i] = data[j];
        data[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return data[k];
  }
  return data[k];
}

/** FQ-ViT's percentile observer: per batch the 0.99999 quantiles, smoothed with momentum 0.01. */
export class PercentileTracker {
  static readonly PERCENTILE = 0.99999;
  static readonly SIGMA = 0.01;
  min = 0;
  max = 0;
  private started = false;

  update(values: Float32Array): void {
    const hi = quantile(values, PercentileTracker.PERCENTILE);
    const lo = quantile(values, 1 - PercentileTracker.PERCENTILE);
    if (!this.started) {
      this.max = Math.max(hi, 0);
      this.min = Math.min(lo, 0);
      this.started = true;
    } else {
      this.max += PercentileTracker.SIGMA * (hi - this.max);
      this.min += PercentileTracker.SIGMA * (lo - this.min);
    }
  }
}

/**
 * The activation observer registry: a name → the statistics it needs collected and how it turns them into a
 * quantizer. `--observer`'s choices, help and errors come from here; a new observer is one entry.
 */
export const OBSERVER_REGISTRY = {
  minmax: {
    summary: 'the observed min and max',
    needs: {},
    params: (s: TensorStats, bits: number) => minmaxParams(s.min, s.max, bits),
  },
  percentile: {
    summary: 'the 0.00001 and 0.99999 quantiles per batch, smoothed with momentum 0.01 (FQ-ViT)',
    needs: { percentile: true },
    params: (s: TensorStats, bits: number) => minmaxParams(s.percentile!.min, s.percentile!.max, bits),
  },
  omse: {
    summary: 'the min-max range clipped to the least squared error on the last batch (FQ-ViT)',
    needs: { sample: true },
    sample: 'omse',
    params: (s: TensorStats) => s.sample![0],
  },
} satisfies Record<
  string,
  {
    summary: string;
    needs: { sample?: boolean; percentile?: boolean };
    /** With needs.sample: the statistic of the sample batch, made from the range over every image. */
    sample?: SampleSpec['kind'];
    params: (stats: TensorStats, bits: number) => UniformParams;
  }
>;

export type Observer = keyof typeof OBSERVER_REGISTRY;
export const OBSERVERS = Object.keys(OBSERVER_REGISTRY) as Observer[];
