// FQ-ViT's Power-of-Two Factor quantizer (LayerNorm inputs): one searched scale s and per-channel factors 2^α_c,
// channel c using s·2^α_c. The simulation divides by the factors, quantizes per tensor and multiplies back (or
// leaves the factors to the weights of the MatMuls that read it); the export keeps that float subgraph (no ONNX
// op for it); quant.json writes the effective scales, the base scale and α.
import type { Graph, Node } from '../../onnx/graph.js';
import { NodeBuilder } from '../../onnx/builder.js';
import type { UniformParams } from '../scheme.js';
import type { QuantPoint } from '../points.js';
import { withWeightCorrection } from '../corrections/weight-correction.js';
import { quantizeDequantize, scaleAxis, uniformParamTensors, UNIFORM } from './uniform.js';
import type { QuantizerKind } from './kind.js';

/**
 * Whether an activation's PTF factors go onto the weights of the MatMuls that read it, diag(f)·Ŵ, instead of
 * onto the activation: each reads it as its left operand against a constant. The MatMul then reads a
 * per-tensor DequantizeLinear, as without PTF; a dequantized activation times factors would make onnxruntime
 * run a float MatMul of 4-bit weights as MatMulNBits, which requantizes its float input to int8 (docs/notes/kinds.md),
 * and a per-axis DequantizeLinear makes it fuse the attention's MatMul into a MatMulIntegerToFloat that has no
 * per-channel zero point.
 */
function ptfOnWeights(sim: Graph, tensor: string, consumers: readonly Node[]): boolean {
  return (
    consumers.length > 0 &&
    consumers.every((n) => n.opType === 'MatMul' && n.inputs[0] === tensor && sim.isConstant(n.inputs[1]))
  );
}

/**
 * Multiplies the weight operand of each MatMul by the factors, one per row (the left operand's channels); each
 * MatMul's Mul goes into `readers`, as what reads its weight now.
 */
function factorsOnWeights(
  sim: Graph,
  point: QuantPoint,
  consumers: readonly Node[],
  factors: Float32Array,
  readers: Record<string, Node>,
): void {
  const b = new NodeBuilder(sim, point.id);
  const rows = b.floats('ptf_rows', [factors.length, 1], factors);
  for (const node of consumers) {
    const mul = b.node('Mul', [node.inputs[1], rows], [], 'ptf_weight');
    node.inputs[1] = mul;
    readers[node.name] = sim.producer(mul)!;
  }
  sim.invalidate();
}

export const PTF: QuantizerKind<UniformParams> = {
  simulate(step, p) {
    const { graph: sim, point, consumers, builder: b } = step;
    const tensors = uniformParamTensors(step, p);
    const factor = p.channelFactor!;
    const onWeights = point.kind === 'activation' && ptfOnWeights(sim, point.tensor, consumers);
    // x / (s·2^α) = (x·2^−α) / s exactly, so a per-tensor Q/DQ between two power-of-two multiplies
    // (onnxruntime's per-axis QuantizeLinear on the last axis is many times slower than per-tensor).
    const factors = b.floats('ptf', [factor.length], factor);
    const input = b.node('Div', [step.source, factors], [], 'ptf_in');
    const dequantized = quantizeDequantize(b, input, tensors, p, scaleAxis(point));
    // After every point: the weights the factors multiply are then the quantized ones.
    if (onWeights) step.deferred.push((readers) => factorsOnWeights(sim, point, consumers, factor, readers));
    const quantized = onWeights ? dequantized : b.node('Mul', [dequantized, factors], [], 'ptf_out');
    return withWeightCorrection(sim, point, p, quantized);
  },
  paramFeeds: UNIFORM.paramFeeds,
  exportWeight: UNIFORM.exportWeight,
  floatSubgraphs: () => ['ptf'],
  json: (point, p) => ({
    ...UNIFORM.json(point, p),
    ptf_base_scale: p.scale[0],
    // From the params written, not the calibration table: `--start fitted` refits them.
    // log2 of each channel's factor: FQ-ViT's integers, or halves where the fitted start refit them finer.
    ptf_alpha: Array.from(p.channelFactor!, (f) => Math.round(Math.log2(f) * 1000) / 1000),
  }),
};
