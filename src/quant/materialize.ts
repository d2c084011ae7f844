// "Materialize": one engine inserts a fake-quant subgraph after every marked tensor, the subgraph of the point's
// quantizer kind (kinds/). Scales and zero points are graph inputs, so a new candidate is a new feed, not a new
// session (or initializers, with `bake`).
import type { Graph, Node } from '../onnx/graph.js';
import { NodeBuilder } from '../onnx/builder.js';
import { renameProducerOutput } from '../onnx/edits.js';
import { GraphError } from '../errors.js';
import type { QuantParams } from './scheme.js';
import type { QuantPoint } from './points.js';
import type { FloatTensor } from '../runtime/runner.js';
import { quantizerKind } from './kinds/registry.js';
import type { PointSimulation } from './kinds/kind.js';
import { simulateLayerCorrections } from './corrections/layer-shift.js';
import { nodesByName } from '../onnx/lookup.js';

export interface MaterializeOptions {
  /** Points to quantize; default: all that have params. */
  enabled?: ReadonlySet<string>;
  /**
   * Write scales and zero points as initializers instead of graph inputs (a standalone model, which
   * onnxruntime also runs faster: it folds constant quantizers into integer kernels)...
   */
  bake?: boolean;
  /** ...except these points, which stay graph inputs (the unit being searched). */
  feed?: ReadonlySet<string>;
  /** Bias correction: per weight point, the mean of the layer's input per input channel. */
  inputMeans?: Readonly<Record<string, Float32Array>>;
}

export interface Simulation {
  graph: Graph;
  /** Graph input names holding each point's scale and zero point (empty when baked). */
  feeds: Record<string, { scale: string; zeroPoint: string }>;
  /** The fake-quantized tensor that replaced each point's tensor. */
  quantized: Record<string, string>;
  /** Per MatMul that reads a refitted activation: the Mul that now reads its weight (PTF factors on weights). */
  weightReaders: Record<string, Node>;
}

/** The point's consumer nodes in the simulation graph. */
function consumerNodes(point: QuantPoint, nodes: ReadonlyMap<string, Node>): Node[] {
  return point.consumers.map((name) => {
    const node = nodes.get(name);
    if (!node) throw new GraphError(`quant point ${point.id}: consumer node '${name}' is not in the graph`, name);
    return node;
  });
}

/**
 * The point's kind's subgraph on its tensor, rewired into its consumers, then its layer's corrections. A graph
 * output (the logits) keeps its name: the layer writes a raw tensor that is quantized into it.
 */
function quantizePoint(step: Omit<PointSimulation, 'source'>, p: QuantParams, means: Float32Array | undefined): string {
  const { graph: sim, point, builder: b } = step;
  const output = sim.isGraphOutput(point.tensor) ? point.tensor : undefined;
  const source = output ? renameProducerOutput(sim, output) : point.tensor;
  let quantized = quantizerKind(p).simulate({ ...step, source }, p);
  if (output) quantized = b.node('Identity', [quantized], [], 'output', output);
  sim.rewire(point.tensor, quantized, step.consumers);
  simulateLayerCorrections(b, point, quantized, means, p);
  return quantized;
}

/** The simulation graph: a copy of `graph` with fake quantization at every enabled point. */
export function materialize(
  graph: Graph,
  points: readonly QuantPoint[],
  params: Readonly<Record<string, QuantParams>>,
  options: MaterializeOptions = {},
): Simulation {
  if (graph.opset < 13)
    throw new GraphError(
      `the model uses opset ${graph.opset}; evolq needs opset 13 or newer (re-export with opset_version>=13)`,
    );
  const sim = graph.clone();
  const feeds: Simulation['feeds'] = {};
  const quantized: Simulation['quantized'] = {};
  const nodes = nodesByName(sim);
  const deferred: PointSimulation['deferred'] = [];
  for (const point of points) {
    const p = params[point.id];
    if (!p || (options.enabled && !options.enabled.has(point.id))) continue;
    const builder = new NodeBuilder(sim, point.id);
    const consumers = consumerNodes(point, nodes);
    const baked = !!options.bake && !options.feed?.has(point.id);
    const step = { graph: sim, point, builder, consumers, baked, feeds, deferred };
    quantized[point.id] = quantizePoint(step, p, options.inputMeans?.[point.id]);
  }
  const weightReaders: Simulation['weightReaders'] = {};
  for (const edit of deferred) edit(weightReaders);
  for (const point of points) {
    const p = params[point.id];
    if (p && quantized[point.id]) quantizerKind(p).finish?.({ graph: sim, point, quantized }, p);
  }
  return { graph: sim, feeds, quantized, weightReaders };
}

/** The feeds that carry a set of params into a simulation graph. */
export function simulationFeeds(
  sim: Simulation,
  points: readonly QuantPoint[],
  params: Readonly<Record<string, QuantParams>>,
): Record<string, FloatTensor> {
  const feeds: Record<string, FloatTensor> = {};
  for (const point of points) {
    const names = sim.feeds[point.id];
    const p = params[point.id];
    const values = names && p ? quantizerKind(p).paramFeeds?.(p) : undefined;
    if (!names || !values) continue;
    feeds[names.scale] = values.scale;
    feeds[names.zeroPoint] = values.zeroPoint;
  }
  return feeds;
}
