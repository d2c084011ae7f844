// What a quantizer kind is: one module per kind owns its simulation subgraph, its form in the deployable model
// and in quant.json; the engines (materialize, deployableGraph, quantJson) look the kind up in the registry
// (registry.ts) and call these, instead of reading the params' flags.
import type { Graph, Node, ConstantValue } from '../../onnx/graph.js';
import type { NodeBuilder } from '../../onnx/builder.js';
import { floatTensor, floatValueInfo, type TensorProto } from '../../onnx/proto.js';
import type { QuantPoint } from '../points.js';
import type { QuantParams, UniformParams } from '../scheme.js';
import type { FloatTensor } from '../../runtime/runner.js';

/** The graph inputs that carry a point's scale and zero point into the simulation. */
export interface FeedNames {
  scale: string;
  zeroPoint: string;
}

/** One point being materialized: where its subgraph goes and what it reads. */
export interface PointSimulation {
  graph: Graph;
  point: QuantPoint;
  /** Builds under the point's id. */
  builder: NodeBuilder;
  /** The tensor to quantize: the point's, or the raw tensor its producer now writes when it is a graph output. */
  source: string;
  consumers: readonly Node[];
  /** Scales and zero points as initializers (a standalone model) instead of graph inputs the search feeds. */
  baked: boolean;
  /** Each fed point's input names. */
  feeds: Record<string, FeedNames>;
  /** Edits that must wait until every point is quantized; each gets the record of what now reads a MatMul's weight. */
  deferred: ((weightReaders: Record<string, Node>) => void)[];
}

/** A point after every point's subgraph and the deferred edits are in the graph. */
export interface FinishedSimulation {
  graph: Graph;
  point: QuantPoint;
  /** The fake-quantized tensor of each materialized point. */
  quantized: Readonly<Record<string, string>>;
}

/** 'uint4-nibbles': 4-bit levels two to a uint8 byte, split into int8 by operators onnxruntime folds at load. */
/** 'uint2-packed': 2-bit levels four to a uint8 byte, split alike. */
export type WeightStorage = 'int8' | 'uint4' | 'uint4-nibbles' | 'uint2-packed' | 'uint4-blocked';

/**
 * 'ptf': per-channel power-of-two factors around a per-tensor Q/DQ; 'log2': FQ-ViT's log2 softmax quantizer;
 * 'integer-layernorm': FQ-ViT's integer LayerNorm, its integer arithmetic written in float ops;
 * 'weight-correction': the weight correction's per-channel offset added to a dequantized weight (Conv, Gemm).
 */
export type FloatSubgraphKind = 'ptf' | 'log2' | 'integer-layernorm' | 'weight-correction';

/** One weight point being written into the deployable model. */
export interface WeightExport {
  graph: Graph;
  point: QuantPoint;
  /** The layer that reads the weight. */
  node: Node;
  /** The float weight. */
  constant: ConstantValue;
  /** Its integer levels and their float values (scheme's quantizeWeight). */
  levels: Uint8Array;
  dequantized: Float32Array;
  /** Bias correction's mean of the layer's input per input channel. */
  means: Float32Array | undefined;
  integerKernels: boolean;
  /** The node that now reads the weight for a consumer named so (a PTF factor's Mul, or the consumer). */
  reader(consumer: string): Node;
  /** Counts a stored weight tensor and its bytes of levels. */
  store(storage: WeightStorage, bytes: number): void;
  /** Records a float subgraph the weight needs. */
  floatSubgraph(kind: FloatSubgraphKind): void;
}

/**
 * A quantizer kind. Methods (not function properties) so that the registry can hold kinds of narrower params:
 * `kindOf` picks the entry, so each sees only params of its own kind.
 */
export interface QuantizerKind<P extends QuantParams> {
  /** The fake-quant subgraph on `step.source`; returns the tensor that replaces the point's. */
  simulate(step: PointSimulation, p: P): string;
  /** A rewrite that needs other points' quantizers, once all are in the graph. */
  finish?(step: FinishedSimulation, p: P): void;
  /** The scale and zero point as the search feeds them; absent for a kind without them. */
  paramFeeds?(p: P): { scale: FloatTensor; zeroPoint: FloatTensor };
  /** Writes a weight of this kind into the deployable model; absent: weights are never of this kind. */
  exportWeight?(w: WeightExport, p: P): void;
  /** The float subgraphs an activation of this kind leaves in the deployable model (no standard ONNX op does it). */
  floatSubgraphs(point: QuantPoint, p: P): FloatSubgraphKind[];
  /** The point's fields in quant.json, after `quantizer` and `bits`. */
  json(point: QuantPoint, p: P): Record<string, unknown>;
}

/** Names of a point's parameter tensors. */
export const scaleName = (id: string) => `${id}::scale`;
export const zeroPointName = (id: string) => `${id}::zero_point`;

/**
 * The point's scale and zero point: initializers when baked (the zero point as `bakedZeroPoint` writes it), else
 * graph inputs the search feeds, recorded in `step.feeds`.
 */
export function paramTensors(
  step: PointSimulation,
  dims: { scale: number[]; zeroPoint: number[] },
  scale: Float32Array,
  bakedZeroPoint: (name: string) => TensorProto,
): { names: FeedNames; fed: boolean } {
  const names = { scale: scaleName(step.point.id), zeroPoint: zeroPointName(step.point.id) };
  if (step.baked) {
    step.graph.addInitializer(floatTensor(names.scale, dims.scale, scale));
    step.graph.addInitializer(bakedZeroPoint(names.zeroPoint));
    return { names, fed: false };
  }
  step.graph.inputs.push(floatValueInfo(names.scale, dims.scale), floatValueInfo(names.zeroPoint, dims.zeroPoint));
  step.feeds[step.point.id] = names;
  return { names, fed: true };
}

/** A kind's feeds: its params' scale and zero point in the shapes `dims` gives. */
export function shapedFeeds(
  dims: (p: UniformParams) => { scale: number[]; zeroPoint: number[] },
): (p: UniformParams) => { scale: FloatTensor; zeroPoint: FloatTensor } {
  return (p) => {
    const shapes = dims(p);
    return { scale: { data: p.scale, dims: shapes.scale }, zeroPoint: { data: p.zeroPoint, dims: shapes.zeroPoint } };
  };
}
