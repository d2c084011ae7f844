// A uniform quantizer's integer levels and squared error on float32 values, exactly as the graph computes them,
// in the form the sample statistics' per-value loops need (the range's bounds shifted by the zero point).
import { roundHalfEvenFloat32, type IntRange } from '../../quant/scheme.js';

/** The level of v = x / scale (the division done, in float64), clamped to [lo, hi]. */
export function levelOfScaled(v: number, lo: number, hi: number): number {
  const r = roundHalfEvenFloat32(Math.fround(v));
  return r < lo ? lo : r > hi ? hi : r;
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
    const r = roundHalfEvenFloat32(Math.fround(xi / scale));
    const q = r < lo ? lo : r > hi ? hi : r;
    const d = xi - Math.fround(q * scale);
    sum += d * d;
  }
  return sum;
}
