// The uniform quantizer, per tensor or per channel (by the length of its scale): QuantizeLinear → (Clip below
// 8 bits) → DequantizeLinear in the simulation, what the deployed model runs; integer levels (int8, or uint4
// packed two per byte) read by one DequantizeLinear in the export; its scales and zero points in quant.json.
import { makeAttribute } from '../../onnx/graph.js';
import { NodeBuilder } from '../../onnx/builder.js';
import { DataType, floatTensor, onnx, type TensorProto } from '../../onnx/proto.js';
import { GraphError } from '../../errors.js';
import { integerTensor } from '../../export/nibbles.js';
import { effectiveScales, uintRange, weightCorrection, type UniformParams } from '../scheme.js';
import { correctionOffset, withWeightCorrection } from '../corrections/weight-correction.js';
import { foldLayerCorrections } from '../corrections/layer-shift.js';
import { paramTensors, shapedFeeds, type PointSimulation, type QuantizerKind, type WeightExport } from './kind.js';
import type { QuantPoint } from '../points.js';

/** Scales and zero points are scalars per tensor and 1-D per channel, as QuantizeLinear takes them. */
export function paramDims(params: UniformParams): { scale: number[]; zeroPoint: number[] } {
  const shapeOf = (length: number): number[] => (length === 1 ? [] : [length]);
  return { scale: shapeOf(params.scale.length), zeroPoint: shapeOf(params.zeroPoint.length) };
}

/** The zero point of every scale (a shared zero point repeated), as the integers QuantizeLinear takes. */
export function zeroPointPerScale(params: UniformParams): Uint8Array {
  return Uint8Array.from(
    { length: params.scale.length },
    (_, c) => params.zeroPoint[params.zeroPoint.length === 1 ? 0 : c],
  );
}

/** Zero points as a uint8 initializer, one per scale. */
function uint8ZeroPoints(name: string, params: UniformParams): TensorProto {
  const dims = paramDims(params).scale;
  return onnx.TensorProto.create({ name, dims, dataType: DataType.UINT8, rawData: zeroPointPerScale(params) });
}

/** A fed zero point (float, as the search writes it) cast to the uint8 that QuantizeLinear takes. */
function castZeroPoint(b: NodeBuilder, zeroPoint: string, params: UniformParams): string {
  const zero = b.node('Cast', [zeroPoint], [makeAttribute('to', DataType.UINT8)], 'zero_point_u8');
  return params.scale.length > 1 && params.zeroPoint.length === 1
    ? b.node('Expand', [zero, b.ints('channels', [params.scale.length])])
    : zero;
}

/** The point's scale tensor and its zero point as the uint8 tensor QuantizeLinear reads. */
export function uniformParamTensors(step: PointSimulation, p: UniformParams): { scale: string; zero: string } {
  const { names, fed } = paramTensors(step, paramDims(p), p.scale, (name) => uint8ZeroPoints(name, p));
  return { scale: names.scale, zero: fed ? castZeroPoint(step.builder, names.zeroPoint, p) : names.zeroPoint };
}

/** The axis per-channel scales apply to: a weight's output channels, an activation's last axis. */
export const scaleAxis = (point: QuantPoint): number => (point.kind === 'weight' ? point.channelAxis! : -1);

/**
 * x̂ = (clamp(round(x / s) + z, 0, 2^b − 1) − z) · s as QuantizeLinear (uint8; onnxruntime's kernel divides and
 * rounds half to even), a Clip below 8 bits, and DequantizeLinear: the ops the deployed model runs.
 */
export function quantizeDequantize(
  b: NodeBuilder,
  x: string,
  tensors: { scale: string; zero: string },
  p: UniformParams,
  axis: number,
): string {
  const { scale, zero } = tensors;
  const perAxis = p.scale.length > 1 ? [makeAttribute('axis', axis)] : [];
  let q = b.node('QuantizeLinear', [x, scale, zero], perAxis, 'q');
  const { qmax } = uintRange(p.bits);
  if (qmax < 255) q = b.node('Clip', [q, b.sharedUint8(0), b.sharedUint8(qmax)], [], 'clip');
  return b.node('DequantizeLinear', [q, scale, zero], perAxis, 'dq');
}

/**
 * A weight as integer levels with its scales and zero points, read by one DequantizeLinear; the weight
 * correction's gain folds into the scales and its offset is added after (correctionOffset).
 */
function exportUniformWeight(w: WeightExport, p: UniformParams): void {
  const { graph, point, constant } = w;
  const axis = point.channelAxis!;
  const correction = p.correction ? weightCorrection(w.dequantized, constant.dims, axis, p.correction) : undefined;
  if (correction && p.scale.length !== correction.gain.length)
    throw new GraphError(`weight point ${point.id}: the weight correction needs per-channel scales`, point.node);
  const scales = correction ? Float32Array.from(p.scale, (s, c) => s * correction.gain[c]) : p.scale;
  const storage = p.bits <= 4 ? 'uint4' : 'int8';
  const storageBits = storage === 'uint4' ? 4 : p.bits;
  const base = graph.uniqueName(`${point.id}::q`);
  const levelTensor = integerTensor(base, constant.dims, w.levels, storage, storageBits);
  graph.addInitializer(levelTensor);
  // One zero point per scale, so both have the scale's shape.
  const { scale: paramShape } = paramDims(p);
  graph.addInitializer(floatTensor(`${base}::scale`, paramShape, scales));
  graph.addInitializer(integerTensor(`${base}::zero_point`, paramShape, zeroPointPerScale(p), storage, storageBits));
  w.store(storage, levelTensor.rawData!.length);
  const dequantized = new NodeBuilder(graph).add({
    opType: 'DequantizeLinear',
    inputs: [base, `${base}::scale`, `${base}::zero_point`],
    output: `${base}::dq`,
    attributes: p.scale.length > 1 ? [makeAttribute('axis', axis)] : [],
  });
  // A MatMul that reads a refitted activation reads its weight through the Mul that carries the factors.
  const consumers = point.consumers.map((name) => w.reader(name));
  graph.rewire(point.tensor, dequantized, consumers);
  if (correction && correctionOffset(graph, w.node, point, dequantized, correction.offset, consumers) === 'float')
    w.floatSubgraph('weight-correction');
  const weight = { values: constant.values, dequantized: w.dequantized, dims: constant.dims, axis };
  foldLayerCorrections(graph, w.node, weight, w.means, p.outputCorrection);
}

export const UNIFORM: QuantizerKind<UniformParams> = {
  simulate(step, p) {
    const quantized = quantizeDequantize(
      step.builder,
      step.source,
      uniformParamTensors(step, p),
      p,
      scaleAxis(step.point),
    );
    return withWeightCorrection(step.graph, step.point, p, quantized);
  },
  paramFeeds: shapedFeeds(paramDims),
  exportWeight: exportUniformWeight,
  floatSubgraphs: () => [],
  json: (_point, p) => ({
    signed: false,
    axis: p.axis,
    scale: Array.from(effectiveScales(p)),
    zero_point: Array.from(p.zeroPoint),
  }),
};
