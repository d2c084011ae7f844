// The Evol-Q code's weight correction (`--weight-correction`): every forward rescales each output channel of a
// dequantized weight to the float weight's mean and standard deviation. In the simulation a subgraph after the
// weight's fake quantization (so a searched scale is corrected as it is fed); in the export the gain folds into
// the scales and the offset is added after; in quant.json the float stats.
import { floatAttribute, intAttribute, makeAttribute, type Graph, type Node } from '../../onnx/graph.js';
import { NodeBuilder } from '../../onnx/builder.js';
import { floatTensor, int64Tensor } from '../../onnx/proto.js';
import { subtractFromOutput } from '../../onnx/edits.js';
import { CORRECTION_EPS, type ChannelStats, type QuantParams, type UniformParams } from '../scheme.js';
import type { QuantPoint } from '../points.js';

/**
 * Ŵ' = (Ŵ − mean(Ŵ))·std(W) / (std(Ŵ) + ε) + mean(W) per output channel (`axis`), with the float weight's
 * `target` stats as constants and Ŵ's computed in the graph from the (possibly fed) scales.
 */
export function weightCorrectionSubgraph(
  b: NodeBuilder,
  dequantized: string,
  dims: readonly number[],
  axis: number,
  target: ChannelStats,
): string {
  const others = dims.map((_, i) => i).filter((i) => i !== axis);
  const n = others.reduce((p, i) => p * dims[i], 1);
  const statDims = dims.map((d, i) => (i === axis ? d : 1));
  const axes = b.ints('axes', others);
  const keep = [makeAttribute('keepdims', 1)];
  const mean = b.node('Mul', [b.node('ReduceSum', [dequantized, axes], keep), b.scalar(1 / n)]);
  const centred = b.node('Sub', [dequantized, mean]);
  const variance = b.node('Mul', [
    b.node('ReduceSum', [b.node('Mul', [centred, centred]), axes], keep),
    b.scalar(1 / Math.max(1, n - 1)),
  ]);
  const gain = b.node('Div', [
    b.floats('float_std', statDims, target.std),
    b.node('Add', [b.node('Sqrt', [variance]), b.scalar(CORRECTION_EPS)]),
  ]);
  return b.node('Add', [b.node('Mul', [centred, gain]), b.floats('float_mean', statDims, target.mean)]);
}

/** A weight point's quantized tensor, corrected when its params carry the float weight's stats. */
export function withWeightCorrection(graph: Graph, point: QuantPoint, p: UniformParams, quantized: string): string {
  if (!p.correction || point.kind !== 'weight') return quantized;
  const b = new NodeBuilder(graph, `${point.id}/correction`);
  return weightCorrectionSubgraph(b, quantized, point.dims!, point.channelAxis!, p.correction);
}

/**
 * The weight correction's offset o (per output channel) on top of the rescaled dequantized weight. A MatMul
 * x·W with W on the right computes x·(Ŵ + o) = x·Ŵ + (Σₖ xₖ)·o, which keeps its integer kernel: 'integer'; so
 * does a Gemm x·W or x·Wᵀ (alpha 1: beta scales only its bias).
 * Other layers read Ŵ + o, a float Add on the dequantized weight: 'float'.
 */
export function correctionOffset(
  graph: Graph,
  node: Node,
  point: QuantPoint,
  dequantized: string,
  offset: Float32Array,
  consumers: Node[],
): 'integer' | 'float' {
  const dims = point.dims!;
  const axis = point.channelAxis!;
  const name = `${point.id}::correction`;
  const b = new NodeBuilder(graph);
  // The axis of W's output channels: MatMul's last; a plain Gemm's (A not transposed, alpha 1) 0 or 1 by transB.
  const plainGemm =
    node.opType === 'Gemm' && !intAttribute(node, 'transA', 0) && floatAttribute(node, 'alpha', 1) === 1;
  const outputAxis = node.opType === 'MatMul' ? dims.length - 1 : plainGemm ? 1 - intAttribute(node, 'transB', 0) : -1;
  if (node.inputs[1] === dequantized && axis === outputAxis && consumers.length === 1) {
    graph.addInitializer(int64Tensor(`${name}::axes`, [1], [-1]));
    const rowSums = b.add({
      opType: 'ReduceSum',
      inputs: [node.inputs[0], `${name}::axes`],
      output: `${name}::row_sums`,
      attributes: [makeAttribute('keepdims', 1)],
    });
    graph.addInitializer(
      floatTensor(
        `${name}::negative_offset`,
        [offset.length],
        offset.map((o) => -o),
      ),
    );
    subtractFromOutput(
      graph,
      node,
      b.add({ opType: 'Mul', inputs: [rowSums, `${name}::negative_offset`], output: `${name}::shift` }),
    );
    return 'integer';
  }
  const statDims = dims.map((d, i) => (i === axis ? d : 1));
  graph.addInitializer(floatTensor(`${name}::offset`, statDims, offset));
  const corrected = b.add({ opType: 'Add', inputs: [dequantized, `${name}::offset`], output: `${name}::weight` });
  graph.rewire(dequantized, corrected, consumers);
  return 'float';
}

/** quant.json's form: the float weight's mean and standard deviation per output channel. */
export function weightCorrectionJson(p: QuantParams): Record<string, unknown> {
  if (p.kind !== 'uniform' || !p.correction) return {};
  return { weight_correction: { mean: Array.from(p.correction.mean), std: Array.from(p.correction.std) } };
}
