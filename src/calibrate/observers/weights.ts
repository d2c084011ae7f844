// Weight observers: min-max per output channel, or per block of input rows of each channel.
import { scaleAndZeroPoint, uintRange, type UniformParams } from '../../quant/scheme.js';
import { uniformParams } from './minmax.js';

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
  return uniformParams(
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
    ...uniformParams(
      bits,
      params.map((p) => p.scale),
      params.map((p) => p.zeroPoint),
      1,
    ),
    block: { size: block, blocks },
  };
}
