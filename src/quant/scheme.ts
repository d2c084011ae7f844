// Quantizer maths as small pure functions: ranges, scales, zero points, and the fake-quant references
// that the simulation graph must reproduce bit for bit.

/** torch.finfo(torch.float32).eps: the smallest scale FQ-ViT's observers allow. */
export const SCALE_EPS = 1.1920928955078125e-7;

export interface IntRange {
  qmin: number;
  qmax: number;
}

/** Unsigned (asymmetric) integer range of a bit width. */
export function uintRange(bits: number): IntRange {
  return { qmin: 0, qmax: 2 ** bits - 1 };
}

/**
 * Uniform quantizer parameters. `axis` is the channel axis (negative counts from the end); null means per tensor.
 * With `channelFactor` (PTF), `scale` and `zeroPoint` are one value and channel c uses scale · channelFactor[c],
 * a power of two, so only the shared scale is searched.
 */
export interface UniformParams {
  kind: 'uniform';
  bits: number;
  scale: Float32Array;
  /** Integer-valued; length 1 (shared) or the channel count. */
  zeroPoint: Float32Array;
  axis: number | null;
  channelFactor?: Float32Array;
  /**
   * Blocked weights (a [K, N] MatMul weight, channels on axis 1): one scale and zero point per `size`
   * consecutive input rows of each channel, laid out [blocks = K / size, N] (what MatMulNBits stores).
   */
  block?: { size: number; blocks: number };
}

/** Per-channel effective scales: the scale vector, or PTF's shared scale times each channel's power of two. */
export function effectiveScales(params: UniformParams): Float32Array {
  const factor = params.channelFactor;
  return factor ? factor.map((f) => Math.fround(params.scale[0] * f)) : params.scale;
}

/** FQ-ViT's log2 quantizer for softmax outputs (no parameters beyond the bit width). */
export interface Log2Params {
  kind: 'log2';
  bits: number;
}

export type QuantParams = UniformParams | Log2Params;

/** Asymmetric min-max scale and zero point, as FQ-ViT's observers compute them. */
export function scaleAndZeroPoint(min: number, max: number, range: IntRange): { scale: number; zeroPoint: number } {
  const scale = Math.max(Math.fround((max - min) / (range.qmax - range.qmin)), SCALE_EPS);
  const zeroPoint = Math.min(range.qmax, Math.max(range.qmin, range.qmin - roundHalfEven(Math.fround(min / scale))));
  return { scale: Math.fround(scale), zeroPoint };
}

/** Round half to even, as ONNX Round and torch.round. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * x̂ = (clamp(round(x / s) + z, qmin, qmax) − z) · s in float32, as QuantizeLinear/DequantizeLinear compute it
 * (an IEEE float division, round half to even). `channelOf(i)` maps an element to its channel (omit per tensor).
 */
export function fakeQuantUniform(
  x: Float32Array, scale: Float32Array, zeroPoint: Float32Array, range: IntRange, channelOf?: (i: number) => number,
): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = channelOf ? channelOf(i) : 0;
    const s = scale.length === 1 ? 0 : c;
    const z = zeroPoint.length === 1 ? 0 : c;
    out[i] = (quantizeLevel(x[i], scale[s], zeroPoint[z], range) - zeroPoint[z]) * scale[s];
  }
  return out;
}

/** QuantizeLinear of one value: clamp(round(x / s) + z), an IEEE float division rounded half to even. */
export function quantizeLevel(x: number, scale: number, zeroPoint: number, range: IntRange): number {
  return Math.min(range.qmax, Math.max(range.qmin, roundHalfEven(Math.fround(x / scale)) + zeroPoint));
}

/** The graph's −log2 x as float32: Log then a multiply by −1/ln 2. */
export function negLog2(x: number): number {
  return Math.fround(Math.fround(Math.log(x)) * Math.fround(-1 / Math.LN2));
}

/** Log2 quantizer: q = clamp(round(−log2 x), 0, 2^b − 1), x̂ = 2^−q, and 0 where round(−log2 x) ≥ 2^b. */
export function fakeQuantLog2(x: Float32Array, bits: number): Float32Array {
  const levels = 2 ** bits;
  return x.map((v) => {
    const r = roundHalfEven(negLog2(v));
    if (!(r < levels)) return 0;
    return 2 ** -Math.min(levels - 1, Math.max(0, r));
  });
}

/** Maps flat element indices of a tensor with `dims` to the index along `axis`. */
export function channelIndexer(dims: readonly number[], axis: number): (i: number) => number {
  const a = axis < 0 ? dims.length + axis : axis;
  let inner = 1;
  for (let d = a + 1; d < dims.length; d++) inner *= dims[d];
  const size = dims[a];
  return (i) => Math.floor(i / inner) % size;
}
