// The Evol-Q code's two in-forward computations as ONNX subgraphs of the simulation: the data-free weight
// correction (after every weight's fake quantization, so a searched scale is corrected as it is fed) and
// FQ-ViT's integer LayerNorm on the quantized input, rounded to the next quantizer's scale.
import { makeAttribute, type Graph, type Node } from '../onnx/graph.js';
import { floatTensor, int64Tensor } from '../onnx/proto.js';
import { CORRECTION_EPS, type ChannelStats, type UniformParams } from './scheme.js';

/** Adds nodes and constants under one name prefix. */
export class SubgraphBuilder {
  constructor(
    readonly graph: Graph,
    readonly prefix: string,
  ) {}

  node(
    opType: string,
    inputs: string[],
    attributes: Node['attributes'] = [],
    output = this.graph.uniqueName(`${this.prefix}/${opType}`),
  ): string {
    this.graph.addNode({ name: output, opType, domain: '', inputs, outputs: [output], attributes });
    return output;
  }

  floats(name: string, dims: number[], values: ArrayLike<number>): string {
    const key = this.graph.uniqueName(`${this.prefix}::${name}`);
    this.graph.addInitializer(floatTensor(key, dims, Float32Array.from(values)));
    return key;
  }

  scalar(value: number): string {
    return this.floats(`c${value}`, [], [value]);
  }

  ints(name: string, values: number[]): string {
    const key = this.graph.uniqueName(`${this.prefix}::${name}`);
    this.graph.addInitializer(int64Tensor(key, [values.length], values));
    return key;
  }
}

/**
 * Ŵ' = (Ŵ − mean(Ŵ))·std(W) / (std(Ŵ) + ε) + mean(W) per output channel (`axis`), with the float weight's
 * `target` stats as constants and Ŵ's computed in the graph from the (possibly fed) scales.
 */
export function weightCorrectionSubgraph(
  b: SubgraphBuilder,
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

/**
 * FQ-ViT's integer LayerNorm replacing `layerNorm` (normalising the last axis): its input is the PTF point's
 * dequantized output, `inScale` that point's shared scale tensor (times `params.channelFactor` per channel),
 * `outScale` the scale tensor of the point that quantizes its output. Writes the LayerNorm's output tensor.
 * See `integerLayerNorm` in scheme.ts for the arithmetic.
 */
export function integerLayerNormSubgraph(
  b: SubgraphBuilder,
  layerNorm: Node,
  inParams: UniformParams,
  inScale: string,
  outScale: string,
  channels: number,
): void {
  const graph = b.graph;
  const [x, gammaName, betaName] = layerNorm.inputs;
  const factor = inParams.channelFactor ?? Float32Array.of(1);
  const minFactor = Math.min(...factor);
  const scales = b.node('Mul', [inScale, b.floats('ptf_factor', [factor.length], factor)]);
  const mask = b.floats(
    'ptf_mask',
    [factor.length],
    Array.from(factor, (f) => Math.round(f / minFactor)),
  );
  const base = b.node('Mul', [inScale, b.scalar(minFactor)]);
  const ints = b.node('Mul', [b.node('Round', [b.node('Div', [x, scales])]), mask]);
  const last = b.ints('last_axis', [-1]);
  const keep = [makeAttribute('keepdims', 1)];
  const sum = b.node('ReduceSum', [ints, last], keep);
  const squares = b.node('ReduceSum', [b.node('Mul', [ints, ints]), last], keep);
  const c = b.scalar(channels);
  const mean = b.node('Mul', [b.node('Div', [sum, c]), base]);
  const std = b.node('Mul', [
    b.node('Div', [base, c]),
    b.node('Sqrt', [b.node('Sub', [b.node('Mul', [c, squares]), b.node('Mul', [sum, sum])])]),
  ]);
  const gamma = gammaName;
  const beta = betaName || b.floats('beta', [channels], new Float32Array(channels));
  const a = b.node('Div', [b.node('Mul', [b.node('Div', [base, std]), gamma]), outScale]);
  const magnitude = b.node('Abs', [a]);
  // N = clamp(7 − ⌊log2 |A|⌋, 0, 31), M = clamp(⌊|A|·2^N⌋, 0, 255)
  const log2 = b.node('Div', [b.node('Log', [magnitude]), b.scalar(Math.LN2)]);
  const shift = b.node('Clip', [b.node('Sub', [b.scalar(7), b.node('Floor', [log2])]), b.scalar(0), b.scalar(31)]);
  const power = b.node('Pow', [b.scalar(2), shift]);
  const multiplier = b.node('Clip', [b.node('Floor', [b.node('Mul', [magnitude, power])]), b.scalar(0), b.scalar(255)]);
  const offset = b.node('Round', [
    b.node('Mul', [
      b.node('Div', [b.node('Sub', [beta, b.node('Mul', [b.node('Div', [mean, std]), gamma])]), outScale]),
      power,
    ]),
  ]);
  const scaled = b.node('Add', [b.node('Mul', [b.node('Mul', [b.node('Sign', [a]), multiplier]), ints]), offset]);
  const levels = b.node('Round', [b.node('Div', [scaled, power])]);
  graph.nodes = graph.nodes.filter((n) => n !== layerNorm);
  b.node('Mul', [levels, outScale], [], layerNorm.outputs[0]);
}
