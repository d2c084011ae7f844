// OMSE (FQ-ViT): the min-max range shrunk to the candidate with the least squared error on the sample batch.
import { quantizeLevel, scaleAndZeroPoint, uintRange, type IntRange, type UniformParams } from '../../quant/scheme.js';
import { uniformParams } from './minmax.js';
import type { SampleStatistic } from './sample-statistic.js';

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

/** Grid cells per bound: the fastest grid of those measured (docs/notes/calibrate.md). */
const CELLS_PER_BOUND = 16;

/** A candidate quantizer: its scale and zero point, its levels' bounds and per level the last interval's index. */
interface Candidate {
  scale: number;
  zeroPoint: number;
  lo: number;
  hi: number;
  cuts: Uint32Array;
}

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
  private readonly candidates: Candidate[] = [];
  /** Sorted distinct boundary keys: interval j holds keys in [bounds[j − 1], bounds[j]). */
  private readonly bounds: Uint32Array;
  /**
   * A uniform grid of cells over [min, max] in value space: per cell g, the number of bounds whose value falls
   * in a cell before g (CELLS_PER_BOUND cells a bound). A value's cell is a monotone function of the value,
   * so every bound of an earlier cell is below it and every bound of a later cell above: the search is only
   * among its own cell's bounds (mostly none or one), and the table is smaller than a key-prefix table's.
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
      all.set(this.levelBounds(scale, zeroPoint), i * levels);
      this.candidates.push({
        scale,
        zeroPoint,
        lo: this.range.qmin - zeroPoint,
        hi: this.range.qmax - zeroPoint,
        cuts: new Uint32Array(0),
      });
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

  /**
   * Per level k = lo .. hi − 1 of a candidate, the first key whose level exceeds k: near (k + ½)·scale, then exact
   * by stepping one float at a time (levels are monotone, so the walk ends at the one key where the level steps).
   */
  private levelBounds(scale: number, zeroPoint: number): Uint32Array {
    const lo = this.range.qmin - zeroPoint;
    const hi = this.range.qmax - zeroPoint;
    const level = (v: number) => quantizeLevel(v, scale, zeroPoint, this.range) - zeroPoint;
    const keys = new Uint32Array(hi - lo);
    for (let k = lo; k < hi; k++) {
      let key = floatKey(Math.fround((k + 0.5) * scale));
      while (level(keyFloatValue(key - 1)) > k) key--;
      while (level(keyFloatValue(key)) <= k) key++;
      keys[k - lo] = key;
    }
    return keys;
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
    return uniformParams(this.bits, [scale], [zeroPoint], null);
  }
}

/** OMSE: shrink the min-max range by 1 − 0.01·i, i = 0..89, keep the least squared error on `sample`. */
export function omseParams(min: number, max: number, sample: Float32Array, bits: number): UniformParams {
  const accumulator = new OmseAccumulator(min, max, bits);
  accumulator.add(sample);
  return accumulator.params();
}
