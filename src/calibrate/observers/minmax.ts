// Min-max observers: the quantizer whose range is the observed one, and the UniformParams every observer returns.
import { scaleAndZeroPoint, uintRange, type UniformParams } from '../../quant/scheme.js';

/** UniformParams from plain numbers (scales and zero points stored as float32). */
export function uniformParams(
  bits: number,
  scale: number[] | Float32Array,
  zeroPoint: number[] | Float32Array,
  axis: number | null,
): UniformParams {
  return { kind: 'uniform', bits, scale: Float32Array.from(scale), zeroPoint: Float32Array.from(zeroPoint), axis };
}

export function minmaxParams(min: number, max: number, bits: number): UniformParams {
  const { scale, zeroPoint } = scaleAndZeroPoint(min, max, uintRange(bits));
  return uniformParams(bits, [scale], [zeroPoint], null);
}
