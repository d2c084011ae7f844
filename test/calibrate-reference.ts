// The calibration statistics as evolq computed them before streaming (commit 445179b): the whole last batch of
// every tensor kept, OMSE by a sorted sample with prefix sums, PTF by direct sums. Tests compare the streamed
// statistics with this.
import { scaleAndZeroPoint, uintRange, type IntRange } from '../src/quant/scheme.js';
import { squaredError } from '../src/calibrate/observers/levels.js';

/** round(v) half to even for |v| < 2^31: floor(v + 0.5) is exact for float32 v, then fix the odd ties. */
function roundHalfEvenFast(v: number): number {
  const r = Math.floor(v + 0.5);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
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
export function referenceOmse(
  min: number,
  max: number,
  sample: Float32Array,
  bits: number,
): { scale: number; zeroPoint: number } {
  const range = uintRange(bits);
  const sorted = new SortedSample(sample);
  let best = { error: Infinity, scale: 1, zeroPoint: 0 };
  for (let i = 0; i < 90; i++) {
    const factor = 1 - 0.01 * i;
    const candidate = scaleAndZeroPoint(min * factor, max * factor, range);
    const error = sorted.squaredError(candidate.scale, candidate.zeroPoint, range);
    if (error < best.error) best = { error, ...candidate };
  }
  return { scale: best.scale, zeroPoint: best.zeroPoint };
}

/** PTF's α per channel (the last axis), by direct sums over the strided sample. */
export function referencePtfAlpha(
  min: number,
  max: number,
  sample: Float32Array,
  channels: number,
  bits: number,
): number[] {
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
  return alpha;
}
