// Blocked weights (`--export-format blocked`): a [K, N] MatMul weight with one scale and zero point per block of
// input rows of each output channel. The simulation computes the blocked Q/DQ in float ops; the export writes
// onnxruntime's MatMulNBits (nbits.ts); quant.json writes the scales as the uniform quantizer does.
import { floatTensor } from '../../onnx/proto.js';
import type { NodeBuilder } from '../../onnx/builder.js';
import { GraphError } from '../../errors.js';
import { matMulNBits } from '../../export/nbits.js';
import { uintRange, type UniformParams } from '../scheme.js';
import { foldLayerCorrections } from '../corrections/layer-shift.js';
import { UNIFORM } from './uniform.js';
import { paramTensors, shapedFeeds, type QuantizerKind, type WeightExport } from './kind.js';

/** Scales and zero points as [blocks, 1, N], which broadcast over the weight seen as [blocks, size, N]. */
function blockedParamDims(params: UniformParams): { scale: number[]; zeroPoint: number[] } {
  const dims = [params.block!.blocks, 1, params.scale.length / params.block!.blocks];
  return { scale: dims, zeroPoint: dims };
}

/**
 * The [K, N] weight seen as [blocks, size, N], each block quantized with its own scale and zero point. Div,
 * Round, Add, Clip, Sub and Mul in float compute exactly what QuantizeLinear/DequantizeLinear do, in any opset
 * (blocked QuantizeLinear needs opset 21), with the zero point kept as a float.
 */
function blockedSubgraph(
  b: NodeBuilder,
  x: string,
  scale: string,
  zero: string,
  params: UniformParams,
  dims: readonly number[],
): string {
  const { blocks, size } = params.block!;
  const grouped = b.node('Reshape', [x, b.ints('blocks', [blocks, size, dims[1]])]);
  const levels = b.node('Add', [b.node('Round', [b.node('Div', [grouped, scale])]), zero]);
  const clipped = b.node('Clip', [levels, b.sharedScalar(0), b.sharedScalar(uintRange(params.bits).qmax)]);
  return b.node('Reshape', [b.node('Mul', [b.node('Sub', [clipped, zero]), scale]), b.ints('shape', [...dims])]);
}

/** Blocked weights are written only as 4-bit MatMulNBits, their layer corrections folded first. */
function exportBlockedWeight(w: WeightExport, p: UniformParams): void {
  const { graph, point, constant } = w;
  if (!w.integerKernels || p.bits > 4)
    throw new GraphError(
      `weight point ${point.id}: blocked ${p.bits}-bit weights are written only as 4-bit MatMulNBits (--export-format blocked, --w-bits 4 or 3)`,
      point.node,
    );
  if (p.correction)
    throw new GraphError(
      `weight point ${point.id}: the weight correction is not written for blocked weights (MatMulNBits)`,
      point.node,
    );
  const weight = { values: constant.values, dequantized: w.dequantized, dims: constant.dims, axis: point.channelAxis! };
  foldLayerCorrections(graph, w.node, weight, w.means, p.outputCorrection);
  w.store('uint4-blocked', matMulNBits(graph, w.node, w.levels, constant.dims, p));
}

export const BLOCKED: QuantizerKind<UniformParams> = {
  simulate(step, p) {
    const dims = blockedParamDims(p);
    const { names } = paramTensors(step, dims, p.scale, (name) => floatTensor(name, dims.zeroPoint, p.zeroPoint));
    return blockedSubgraph(step.builder, step.source, names.scale, names.zeroPoint, p, step.point.dims!);
  },
  paramFeeds: shapedFeeds(blockedParamDims),
  exportWeight: exportBlockedWeight,
  floatSubgraphs: () => [],
  json: UNIFORM.json,
};
