// Quantizer maths as small pure functions: ranges, scales, zero points, and the fake-quant references
// that the simulation graph must reproduce bit for bit.

/** torch.finfo(torch.float32).eps: the smallest scale FQ-ViT's observers allow. */
export const SCALE_EPS = 1.1920928955078125e-7;

export interface IntRange {
  qmin: number;
  qmax: number;
}

/**
 * The bit width a weight's levels take: 8-bit weights on 7 bits with `reduceRange`. x86 CPUs without VNNI add
 * uint8 × int8 products in pairs into 16 bits with saturation (vpmaddubsw); 2 · 255 · 64 = 32,640 fits, so levels
 * stored as −64…63 compute exactly there (docs/notes/exactness.md).
 */
export function weightLevelBits(wBits: number, reduceRange: boolean): number {
  return wBits === 8 && reduceRange ? 7 : wBits;
}

/** How a run's settings name its weight levels where they differ from --w-bits: ' (7-bit levels)', or nothing. */
/** The width `float` in --w-bit-choices: the layer is not quantized (as --float-layers). */
export const FLOAT_WIDTH = 32;

/** A width as --w-bit-choices writes it: `float` or its bits. */
export const widthName = (bits: number) => (bits === FLOAT_WIDTH ? 'float' : String(bits));

/** `W8A8`, or `W8/4/2A8` (`Wfloat/8A8`) where a budget gave each weight a width from --w-bit-choices. */
export function settingLabel(s: {
  wBits: number;
  aBits: number;
  sizeBudget?: unknown;
  accuracyBudget?: unknown;
  latencyBudget?: unknown;
  wBitChoices?: readonly number[];
}): string {
  const mixed = (s.sizeBudget ?? s.accuracyBudget ?? s.latencyBudget ?? null) !== null && s.wBitChoices;
  return `W${mixed ? s.wBitChoices!.map(widthName).join('/') : s.wBits}A${s.aBits}`;
}

export function weightLevelNote(settings: { wBits: number; reduceRange: boolean }): string {
  const bits = weightLevelBits(settings.wBits, settings.reduceRange);
  return bits === settings.wBits ? '' : ` (${bits}-bit levels)`;
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
  /**
   * Weights with `--weight-correction`: the float weight's mean and standard deviation per output channel.
   * Every forward rescales each channel of the dequantized weight to them (the Evol-Q code's bias correction).
   */
  correction?: ChannelStats;
  /** LayerNorm inputs with `--int-layernorm`: the LayerNorm runs FQ-ViT's integer form on this quantized input. */
  integerLayerNorm?: boolean;
  /**
   * Weights with `--output-correction`: added to each output channel of the layer (its bias moves by it), the
   * float model's mean output minus the quantized one's on calibration images (src/search/output-correction.ts).
   */
  outputCorrection?: Float32Array;
}

/** Per-channel mean and (unbiased, as torch.std) standard deviation. */
export interface ChannelStats {
  mean: Float32Array;
  std: Float32Array;
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
  /** Levels per octave: 1 for FQ-ViT's log2 (x̂ = 2^−q), 2 for the log√2 quantizer (x̂ = 2^−q/2). Default 1. */
  steps?: number;
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
 * roundHalfEven of a float32 v with |v| < 2^31: floor(v + 0.5) is exact for it, and far faster than Math.round in
 * the calibration's per-value loops (docs/notes/calibrate.md); then fix the odd ties.
 */
export function roundHalfEvenFloat32(v: number): number {
  const r = Math.floor(v + 0.5);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * x̂ = (clamp(round(x / s) + z, qmin, qmax) − z) · s in float32, as QuantizeLinear/DequantizeLinear compute it
 * (an IEEE float division, round half to even). `channelOf(i)` maps an element to its channel (omit per tensor).
 */
export function fakeQuantUniform(
  x: Float32Array,
  scale: Float32Array,
  zeroPoint: Float32Array,
  range: IntRange,
  channelOf?: (i: number) => number,
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

/** The graph's −steps·log2 x as float32: Log then a multiply by −steps/ln 2. */
export function negLog2(x: number, steps = 1): number {
  return Math.fround(Math.fround(Math.log(x)) * Math.fround(-steps / Math.LN2));
}

/**
 * Log2 quantizer with `steps` levels per octave: q = clamp(round(−steps·log2 x), 0, 2^b − 1), x̂ = 2^(−q/steps), and
 * 0 where round(−steps·log2 x) ≥ 2^b. steps 1 is FQ-ViT's log2, 2 the log√2 quantizer.
 */
export function fakeQuantLog2(x: Float32Array, bits: number, steps = 1): Float32Array {
  const levels = 2 ** bits;
  return x.map((v) => {
    const r = roundHalfEven(negLog2(v, steps));
    if (!(r < levels)) return 0;
    return 2 ** (-Math.min(levels - 1, Math.max(0, r)) / steps);
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

/** Mean and unbiased standard deviation of each slice along `axis` (a weight's output channels). */
export function channelStats(values: Float32Array, dims: readonly number[], axis: number): ChannelStats {
  const channels = dims[axis];
  const index = channelIndexer(dims, axis);
  const n = values.length / channels;
  const sum = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) sum[index(i)] += values[i];
  const mean = sum.map((v) => v / n);
  const squares = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) squares[index(i)] += (values[i] - mean[index(i)]) ** 2;
  return { mean: Float32Array.from(mean), std: Float32Array.from(squares, (v) => Math.sqrt(v / Math.max(1, n - 1))) };
}

/** The Evol-Q code's correction's epsilon: std(W) / (std(Ŵ) + ε). */
export const CORRECTION_EPS = 1e-8;

/**
 * The Evol-Q code's weight correction as one affine map per output channel, Ŵ' = gain·Ŵ + offset, with
 * gain = std(W) / (std(Ŵ) + ε) and offset = mean(W) − gain·mean(Ŵ): Ŵ' has the float weight's mean and std.
 */
export function weightCorrection(
  dequantized: Float32Array,
  dims: readonly number[],
  axis: number,
  target: ChannelStats,
): { gain: Float32Array; offset: Float32Array } {
  const own = channelStats(dequantized, dims, axis);
  const gain = Float32Array.from(target.std, (s, c) => s / (own.std[c] + CORRECTION_EPS));
  const offset = Float32Array.from(target.mean, (m, c) => m - gain[c] * own.mean[c]);
  return { gain, offset };
}

/** Ŵ' = (Ŵ − mean(Ŵ))·gain + mean(W) per output channel (the JS reference of the graph's correction). */
export function correctWeight(
  dequantized: Float32Array,
  dims: readonly number[],
  axis: number,
  target: ChannelStats,
): Float32Array {
  const { gain } = weightCorrection(dequantized, dims, axis, target);
  const own = channelStats(dequantized, dims, axis);
  const index = channelIndexer(dims, axis);
  return dequantized.map((w, i) => (w - own.mean[index(i)]) * gain[index(i)] + target.mean[index(i)]);
}

/** FQ-ViT's shift-and-multiply pair for a positive factor: N = clamp(7 − ⌊log2 A⌋, 0, 31), M = clamp(⌊A·2^N⌋, 0, 255). */
export function multiplierAndShift(a: number): { m: number; n: number } {
  const n = Math.min(31, Math.max(0, 7 - Math.floor(Math.log2(a))));
  return { m: Math.min(255, Math.max(0, Math.floor(a * 2 ** n))), n };
}

/**
 * FQ-ViT's integer LayerNorm (the JS reference of the graph's): rows of `channels` values quantized with
 * per-channel scales `inScales` (PTF: s·2^α) are brought to the smallest scale as integers, normalised with
 * integer mean and standard deviation, and the affine map γ/σ, β is applied as (sign·M·x + B) / 2^N, so the
 * output lands on the integer grid of the next quantizer's scale `outScale`.
 */
export function integerLayerNorm(
  x: Float32Array,
  channels: number,
  inScales: Float32Array,
  outScale: number,
  gamma: Float32Array,
  beta: Float32Array,
): Float32Array {
  const out = new Float32Array(x.length);
  const base = Math.min(...inScales);
  const mask = Array.from(inScales, (s) => roundHalfEven(s / base));
  for (let row = 0; row < x.length / channels; row++) {
    const ints = new Float64Array(channels);
    let sum = 0;
    let squares = 0;
    for (let c = 0; c < channels; c++) {
      ints[c] = roundHalfEven(x[row * channels + c] / inScales[c]) * mask[c];
      sum += ints[c];
      squares += ints[c] * ints[c];
    }
    const mean = (sum / channels) * base;
    const std = (base / channels) * Math.sqrt(channels * squares - sum * sum);
    for (let c = 0; c < channels; c++) {
      const a = ((base / std) * gamma[c]) / outScale;
      const { m, n } = multiplierAndShift(Math.abs(a));
      const b = roundHalfEven(((beta[c] - (mean / std) * gamma[c]) / outScale) * 2 ** n);
      out[row * channels + c] = roundHalfEven((Math.sign(a) * m * ints[c] + b) / 2 ** n) * outScale;
    }
  }
  return out;
}
