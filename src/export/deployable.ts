// The deployable model: the simulation with its weights stored as integers. Activations keep the
// simulation's QuantizeLinear/DequantizeLinear pairs; each weight is written by its quantizer kind (kinds/):
// integer levels (int8, or uint4 packed two per byte at opset 21) read by one DequantizeLinear, or MatMulNBits
// for blocked weights, with bias correction folded into the layer's bias. PTF and log2 softmax stay float
// subgraphs: standard ONNX has no op for either.
// With `integerKernels`, MatMuls are then written as the onnxruntime kernels that run them on integers
// (integer-kernels.ts), and with `widenUint4: 'nibbles'` the 4-bit weights of those MatMuls, and of Convs that
// onnxruntime can fuse into QLinearConv (integer-convs.ts), are stored as the nibbles of uint8 bytes (nibbles.ts).
import type { Graph, Node } from '../onnx/graph.js';
import { upgradeOpset } from '../onnx/opset.js';
import { pruneDeadNodes } from '../onnx/edits.js';
import { materialize } from '../quant/materialize.js';
import { quantizeLevel, uintRange, type QuantParams, type UniformParams } from '../quant/scheme.js';
import type { QuantPoint } from '../quant/points.js';
import { quantizerKind } from '../quant/kinds/registry.js';
import type { FloatSubgraphKind, WeightStorage } from '../quant/kinds/kind.js';
import { GraphError } from '../errors.js';
import { integerMatMuls, fuseBiasAdds, type Uint4Widening } from './integer-kernels.js';
import { integerConvs } from './integer-convs.js';
import { nodesByName } from '../onnx/lookup.js';

export interface FloatSubgraph {
  point: string;
  tensor: string;
  /** See FloatSubgraphKind (src/quant/kinds/kind.ts). */
  kind: FloatSubgraphKind;
}

export interface Deployable {
  graph: Graph;
  floatSubgraphs: FloatSubgraph[];
  /** Weight storage per type: how many tensors and how many bytes of levels. */
  weights: Record<WeightStorage, { tensors: number; bytes: number }>;
}

export interface DeployOptions {
  /**
   * Write MatMuls as onnxruntime's integer kernels (com.microsoft MatMulIntegerToFloat with the bias, int8
   * weights, MatMulNBits for blocked weights) instead of leaving Q/DQ pairs for its optimizer to fuse: the
   * fusions it does itself leave each bias Add in float, run uint8 × uint8 (slower than uint8 × int8 on x86
   * with VNNI) and dequantize 4-bit weights at every run. Activation × activation MatMuls (attention) stay
   * uint8 × uint8, which no x86 kernel saturates (docs/notes/exactness.md).
   */
  integerKernels?: boolean;
  /**
   * With integer kernels: widen the 4-bit weights of MatMuls to int8 by operators on constants that onnxruntime
   * folds at load, so 4-bit MatMuls run as integer kernels too: a Cast of the uint4 tensor ('cast', opset 21), or
   * BitwiseAnd/BitShift/Concat/Cast of nibbles stored in uint8 ('nibbles'). Absent: DequantizeLinear + MatMul.
   */
  widenUint4?: Uint4Widening;
}

/** The opset that has uint4 (and per-axis DequantizeLinear of it). */
export const UINT4_OPSET = 21;

/** What the weights of one export are written with, and what they add up to. */
interface WeightWriting {
  graph: Graph;
  nodes: ReadonlyMap<string, Node>;
  weightReaders: Readonly<Record<string, Node>>;
  inputMeans: Readonly<Record<string, Float32Array>>;
  integerKernels: boolean;
  weights: Deployable['weights'];
  floatSubgraphs: FloatSubgraph[];
}

/** Quantizes one weight point and has its kind write it. */
function writeWeight(out: WeightWriting, point: QuantPoint, p: UniformParams): void {
  const { graph } = out;
  if (p.bits > 8)
    throw new GraphError(`weight point ${point.id}: ${p.bits}-bit weights cannot be stored as int8`, point.node);
  const constant = graph.constantValue(point.tensor);
  if (!constant) throw new GraphError(`weight point ${point.id}: '${point.tensor}' is not a constant`, point.node);
  const { levels, dequantized } = quantizeWeight(constant.values, constant.dims, point.channelAxis!, p);
  quantizerKind(p).exportWeight!(
    {
      graph,
      point,
      node: out.nodes.get(point.node)!,
      constant,
      levels,
      dequantized,
      means: out.inputMeans[point.id],
      integerKernels: out.integerKernels,
      reader: (name) => out.weightReaders[name] ?? out.nodes.get(name)!,
      store: (storage, bytes) => {
        out.weights[storage].tensors++;
        out.weights[storage].bytes += bytes;
      },
      floatSubgraph: (kind) => out.floatSubgraphs.push({ point: point.id, tensor: point.tensor, kind }),
    },
    p,
  );
}

/**
 * The integer kernels; 4-bit weights now split from nibbles (MatMuls', and with 'nibbles' Convs' too) move from
 * 'uint4' to 'uint4-nibbles', and 2-bit ones, split from four levels a byte, to 'uint2-packed'.
 */
function writeIntegerKernels(graph: Graph, weights: Deployable['weights'], widenUint4: Uint4Widening | undefined) {
  const { nibbles } = integerMatMuls(graph, { widenUint4 });
  if (widenUint4 === 'nibbles') for (const [levels, bytes] of integerConvs(graph)) nibbles.set(levels, bytes);
  for (const [levels, { bytes, bits }] of nibbles) {
    weights.uint4.tensors--;
    weights.uint4.bytes -= graph.initializers.get(levels)!.rawData!.length;
    const storage = bits === 4 ? 'uint4-nibbles' : 'uint2-packed';
    weights[storage].tensors++;
    weights[storage].bytes += bytes;
  }
  fuseBiasAdds(graph);
}

export function deployableGraph(
  source: Graph,
  points: readonly QuantPoint[],
  params: Readonly<Record<string, QuantParams>>,
  inputMeans: Readonly<Record<string, Float32Array>> = {},
  options: DeployOptions = {},
): Deployable {
  const integerKernels = options.integerKernels ?? true;
  const activationIds = new Set(points.filter((p) => p.kind !== 'weight' && params[p.id]).map((p) => p.id));
  const { graph, weightReaders } = materialize(source, points, params, { bake: true, enabled: activationIds });
  const weightPoints = points.filter((p) => p.kind === 'weight' && params[p.id]);
  const weightParams = (p: QuantPoint): UniformParams => {
    const q = params[p.id];
    if (q.kind !== 'uniform' || !quantizerKind(q).exportWeight)
      throw new GraphError(`weight point ${p.id} has ${q.kind} params; weights are quantized uniformly`, p.node);
    return q;
  };
  if (weightPoints.some((p) => weightParams(p).bits <= 4)) upgradeOpset(graph, UINT4_OPSET);
  const weights: Deployable['weights'] = {
    int8: { tensors: 0, bytes: 0 },
    uint4: { tensors: 0, bytes: 0 },
    'uint4-nibbles': { tensors: 0, bytes: 0 },
    'uint2-packed': { tensors: 0, bytes: 0 },
    'uint4-blocked': { tensors: 0, bytes: 0 },
  };
  const floatSubgraphs: FloatSubgraph[] = [];
  const nodes = nodesByName(graph);
  const out = { graph, nodes, weightReaders, inputMeans, integerKernels, weights, floatSubgraphs };
  for (const point of weightPoints) writeWeight(out, point, weightParams(point));
  if (integerKernels) writeIntegerKernels(graph, weights, options.widenUint4);
  pruneDeadNodes(graph);
  for (const point of points) {
    const p = params[point.id];
    if (!p || point.kind === 'weight') continue;
    for (const kind of quantizerKind(p).floatSubgraphs(point, p))
      floatSubgraphs.push({ point: point.id, tensor: point.tensor, kind });
  }
  return { graph, floatSubgraphs, weights };
}

/**
 * Integer levels clamp(round(w / s) + z) as QuantizeLinear computes them, and their float values (l − z)·s;
 * blocked params index their scales by block and channel.
 */
export function quantizeWeight(
  values: Float32Array,
  dims: readonly number[],
  axis: number,
  p: UniformParams,
): { levels: Uint8Array; dequantized: Float32Array } {
  const range = uintRange(p.bits);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channels = dims[axis];
  const levels = new Uint8Array(values.length);
  const dequantized = new Float32Array(values.length);
  const rowsPerBlock = p.block ? p.block.size * dims[1] : 0;
  for (let i = 0; i < values.length; i++) {
    const c = p.block
      ? Math.floor(i / rowsPerBlock) * dims[1] + (i % dims[1])
      : p.scale.length === 1
        ? 0
        : Math.floor(i / inner) % channels;
    const s = p.scale[c];
    const z = p.zeroPoint[p.zeroPoint.length === 1 ? 0 : c];
    levels[i] = quantizeLevel(values[i], s, z, range);
    dequantized[i] = (levels[i] - z) * s;
  }
  return { levels, dequantized };
}
