// FQ-ViT's integer LayerNorm (`--integer-layer-norm`): the LayerNorm's input is quantized as PTF (or per tensor)
// and, once every point is in the simulation, the LayerNormalization becomes integer arithmetic on those levels,
// rounded to the scale of the quantizer of its output. The export keeps it as a float subgraph; quant.json names
// that output quantizer.
import type { Node } from '../../onnx/graph.js';
import { makeAttribute } from '../../onnx/graph.js';
import { NodeBuilder } from '../../onnx/builder.js';
import { GraphError } from '../../errors.js';
import type { UniformParams } from '../scheme.js';
import { UNIFORM } from './uniform.js';
import { PTF } from './ptf.js';
import { scaleName, type FinishedSimulation, type QuantizerKind } from './kind.js';

/** N = clamp(7 − ⌊log2 |A|⌋, 0, 31), M = clamp(⌊|A|·2^N⌋, 0, 255), and 2^N. */
function multiplierAndShift(b: NodeBuilder, magnitude: string): { multiplier: string; power: string } {
  const log2 = b.node('Div', [b.node('Log', [magnitude]), b.scalar(Math.LN2)]);
  const shift = b.node('Clip', [b.node('Sub', [b.scalar(7), b.node('Floor', [log2])]), b.scalar(0), b.scalar(31)]);
  const power = b.node('Pow', [b.scalar(2), shift]);
  const multiplier = b.node('Clip', [b.node('Floor', [b.node('Mul', [magnitude, power])]), b.scalar(0), b.scalar(255)]);
  return { multiplier, power };
}

/**
 * FQ-ViT's integer LayerNorm replacing `layerNorm` (normalising the last axis): its input is the PTF point's
 * dequantized output, `inScale` that point's shared scale tensor (times `params.channelFactor` per channel),
 * `outScale` the scale tensor of the point that quantizes its output. Writes the LayerNorm's output tensor.
 * See `integerLayerNorm` in scheme.ts for the arithmetic.
 */
export function integerLayerNormSubgraph(
  b: NodeBuilder,
  layerNorm: Node,
  inParams: UniformParams,
  inScale: string,
  outScale: string,
  channels: number,
): void {
  const [x, gamma, betaName] = layerNorm.inputs;
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
  const beta = betaName || b.floats('beta', [channels], new Float32Array(channels));
  const a = b.node('Div', [b.node('Mul', [b.node('Div', [base, std]), gamma]), outScale]);
  const { multiplier, power } = multiplierAndShift(b, b.node('Abs', [a]));
  const centred = b.node('Sub', [beta, b.node('Mul', [b.node('Div', [mean, std]), gamma])]);
  const offset = b.node('Round', [b.node('Mul', [b.node('Div', [centred, outScale]), power])]);
  const scaled = b.node('Add', [b.node('Mul', [b.node('Mul', [b.node('Sign', [a]), multiplier]), ints]), offset]);
  const levels = b.node('Round', [b.node('Div', [scaled, power])]);
  b.graph.nodes = b.graph.nodes.filter((n) => n !== layerNorm);
  b.node('Mul', [levels, outScale], [], 'Mul', layerNorm.outputs[0]);
}

/** Replaces the point's LayerNormalization once the quantizer of its output is in the graph too. */
function replaceLayerNorm({ graph: sim, point, quantized }: FinishedSimulation, p: UniformParams): void {
  if (!point.output || !quantized[point.output]) return;
  const layerNorm = sim.nodes.find((n) => n.name === point.node && n.opType === 'LayerNormalization');
  const gamma = layerNorm && sim.constantValue(layerNorm.inputs[1]);
  const axis = layerNorm?.attributes.find((a) => a.name === 'axis');
  if (!layerNorm || !gamma || (axis && Number(axis.i) !== -1) || layerNorm.outputs.filter(Boolean).length > 1) {
    throw new GraphError(
      `integer LayerNorm: '${point.node}' is not a LayerNormalization over the last axis with a constant scale`,
      point.node,
    );
  }
  const b = new NodeBuilder(sim, `${point.id}/int_layernorm`);
  integerLayerNormSubgraph(b, layerNorm, p, scaleName(point.id), scaleName(point.output), gamma.values.length);
}

/** Its input quantizer: PTF where the params have channel factors, else per tensor. */
const inputKind = (p: UniformParams) => (p.channelFactor ? PTF : UNIFORM);

export const INTEGER_LAYER_NORM: QuantizerKind<UniformParams> = {
  simulate: (step, p) => inputKind(p).simulate(step, p),
  finish: replaceLayerNorm,
  paramFeeds: UNIFORM.paramFeeds,
  exportWeight: UNIFORM.exportWeight,
  floatSubgraphs: (point, p) => [
    ...inputKind(p).floatSubgraphs(point, p),
    ...(point.output ? (['integer-layernorm'] as const) : []),
  ],
  json: (point, p) => ({ ...inputKind(p).json(point, p), integer_layernorm_output: point.output }),
};
