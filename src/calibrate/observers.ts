// Observers turn statistics into quantizer parameters (FQ-ViT: minmax, percentile, OMSE, PTF); pure functions.
import { scaleAndZeroPoint, uintRange, type IntRange, type UniformParams } from '../quant/scheme.js';
import type { TensorStats } from './collect.js';


function uniform(bits: number, scale: number[] | Float32Array, zeroPoint: number[] | Float32Array, axis: number | null): UniformParams {
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
export function squaredError(x: Float32Array, scale: number, zeroPoint: number, range: IntRange, start = 0, step = 1): number {
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

/**
 * A sample sorted once, so the squared error of a quantizer costs one binary search per integer level
 * instead of a pass over the data: levels are monotone in x, and each level's error follows from prefix sums.
 */
export class SortedSample {
  private readonly sorted: Float32Array;
  private readonly sum: Float64Array;
  private readonly sumSquares: Float64Array;

  constructor(values: Float32Array) {
    this.sorted = radixSort(values);
    const n = this.sorted.length;
    this.sum = new Float64Array(n + 1);
    this.sumSquares = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) {
      this.sum[i + 1] = this.sum[i] + this.sorted[i];
      this.sumSquares[i + 1] = this.sumSquares[i] + this.sorted[i] * this.sorted[i];
    }
  }

  squaredError(scale: number, zeroPoint: number, range: IntRange): number {
    const x = this.sorted;
    const lo = range.qmin - zeroPoint;
    const hi = range.qmax - zeroPoint;
    const level = (v: number) => {
      const r = roundHalfEvenFast(Math.fround(v / scale));
      return r < lo ? lo : r > hi ? hi : r;
    };
    let total = 0;
    for (let i = 0; i < x.length;) {
      const k = level(x[i]);
      let a = i + 1;
      let b = x.length; // first index whose level exceeds k lies in [a, b]
      while (a < b) {
        const mid = (a + b) >>> 1;
        if (level(x[mid]) > k) b = mid;
        else a = mid + 1;
      }
      const c = Math.fround(k * scale);
      const m = a - i;
      total += this.sumSquares[a] - this.sumSquares[i] - 2 * c * (this.sum[a] - this.sum[i]) + m * c * c;
      i = a;
    }
    return Math.max(0, total);
  }
}

/** Sorts float32 values ascending (NaN excluded) by an LSD radix sort on their order-preserving bit patterns. */
export function radixSort(values: Float32Array): Float32Array {
  const n = values.length;
  let keys = new Uint32Array(n);
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    if (values[i] !== values[i]) continue; // NaN
    const b = bits[i];
    keys[kept++] = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0; // negative: flip all; positive: flip sign
  }
  keys = keys.subarray(0, kept);
  let buffer = new Uint32Array(kept);
  const counts = new Uint32Array(2048);
  for (let shift = 0; shift < 32; shift += 11) {
    counts.fill(0);
    for (let i = 0; i < kept; i++) counts[(keys[i] >>> shift) & 2047]++;
    let total = 0;
    for (let d = 0; d < 2048; d++) {
      const c = counts[d];
      counts[d] = total;
      total += c;
    }
    for (let i = 0; i < kept; i++) buffer[counts[(keys[i] >>> shift) & 2047]++] = keys[i];
    [keys, buffer] = [buffer, keys];
  }
  for (let i = 0; i < kept; i++) {
    const k = keys[i];
    keys[i] = k & 0x80000000 ? k & 0x7fffffff : ~k >>> 0;
  }
  return new Float32Array(keys.buffer, keys.byteOffset, kept);
}

/** OMSE: shrink the min-max range by 1 − 0.01·i, i = 0..89, keep the least squared error on `sample`. */
export function omseParams(min: number, max: number, sample: Float32Array, bits: number): UniformParams {
  const range = uintRange(bits);
  const sorted = new SortedSample(sample);
  let best = { error: Infinity, scale: 1, zeroPoint: 0 };
  for (let i = 0; i < 90; i++) {
    const factor = 1 - 0.01 * i;
    const candidate = scaleAndZeroPoint(min * factor, max * factor, range);
    const error = sorted.squaredError(candidate.scale, candidate.zeroPoint, range);
    if (error < best.error) best = { error, ...candidate };
  }
  return uniform(bits, [best.scale], [best.zeroPoint], null);
}

/**
 * Power-of-Two Factor (FQ-ViT) for LayerNorm inputs: base scale s = range / (2^b − 1) / 8, one zero point
 * from the widest scale, and per channel the α ∈ {0..3} whose scale s·2^α has the least error on `sample`
 * (channels on the last axis).
 */
export function ptfParams(min: number, max: number, sample: Float32Array, channels: number, bits: number): UniformParams & { alpha: number[] } {
  const { alpha, base, zeroPoint } = ptfChoice(min, max, sample, channels, bits);
  return { ...uniform(bits, [base], [zeroPoint], -1), channelFactor: Float32Array.from(alpha, (a) => 2 ** a), alpha };
}

function ptfChoice(min: number, max: number, sample: Float32Array, channels: number, bits: number) {
  const range = uintRange(bits);
  const widest = scaleAndZeroPoint(min, max, range);
  const base = Math.fround(widest.scale / 8);
  const alpha: number[] = [];
  for (let c = 0; c < channels; c++) {
    let best = { error: Infinity, a: 0 };
    for (let a = 0; a < 4; a++) {
      const error = squaredError(sample, Math.fround(base * 2 ** a), widest.zeroPoint, range, c, channels);
      if (error < best.error) best = { error, a };
    }
    alpha.push(best.a);
  }
  return { alpha, base, zeroPoint: widest.zeroPoint };
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
  return uniform(bits, params.map((p) => p.scale), params.map((p) => p.zeroPoint), axis);
}

/**
 * Min-max parameters per block of `block` consecutive rows of each column of a [K, N] weight (K a multiple of
 * `block`), laid out [K / block, N].
 */
export function blockedWeightParams(values: Float32Array, dims: readonly number[], block: number, bits: number): UniformParams {
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
  return { ...uniform(bits, params.map((p) => p.scale), params.map((p) => p.zeroPoint), 1), block: { size: block, blocks } };
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
        const t = data[i]; data[i] = data[j]; data[j] = t;
        i++; j--;
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
  minmax: { summary: 'the observed min and max', needs: {}, params: (s: TensorStats, bits: number) => minmaxParams(s.min, s.max, bits) },
  percentile: {
    summary: 'the 0.00001 and 0.99999 quantiles per batch, smoothed with momentum 0.01 (FQ-ViT)', needs: { percentile: true },
    params: (s: TensorStats, bits: number) => minmaxParams(s.percentile!.min, s.percentile!.max, bits),
  },
  omse: {
    summary: 'the min-max range clipped to the least squared error on the last batch (FQ-ViT)', needs: { sample: true },
    params: (s: TensorStats, bits: number) => omseParams(s.min, s.max, s.last!.data, bits),
  },
} satisfies Record<string, { summary: string; needs: { sample?: boolean; percentile?: boolean }; params: (stats: TensorStats, bits: number) => UniformParams }>;

export type Observer = keyof typeof OBSERVER_REGISTRY;
export const OBSERVERS = Object.keys(OBSERVER_REGISTRY) as Observer[];
