// "Materialize": one engine inserts a fake-quant subgraph after every marked tensor. Scales and zero points
// are graph inputs, so a new candidate is a new feed, not a new session (or initializers, with `bake`).
import { Graph, floatAttribute, makeAttribute, type Node } from '../onnx/graph.js';
import { floatTensor, int64Tensor, floatValueInfo, onnx, DataType, type TensorProto } from '../onnx/proto.js';
import { GraphError } from '../errors.js';
import { uintRange, type QuantParams, type UniformParams } from './scheme.js';
import type { QuantPoint } from './points.js';
import type { FloatTensor } from '../runtime/runner.js';
import { SubgraphBuilder, integerLayerNormSubgraph, weightCorrectionSubgraph } from './paper-subgraphs.js';

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
  /** Per MatMul that reads a refitted activation: the Mul that now reads its weight (factorsOnWeights). */
  weightReaders: Record<string, Node>;
}

/** Names of a point's parameter tensors. */
export const scaleName = (id: string) => `${id}::scale`;
export const zeroPointName = (id: string) => `${id}::zero_point`;

/** Scales and zero points are scalars per tensor and 1-D per channel, as QuantizeLinear takes them ([blocks, 1, N] in blocks). */
export function paramDims(params: UniformParams): { scale: number[]; zeroPoint: number[] } {
  if (params.block) {
    const dims = [params.block.blocks, 1, params.scale.length / params.block.blocks];
    return { scale: dims, zeroPoint: dims };
  }
  const shapeOf = (length: number): number[] => (length === 1 ? [] : [length]);
  return { scale: shapeOf(params.scale.length), zeroPoint: shapeOf(params.zeroPoint.length) };
}

class Builder {
  private constants = new Map<string, string>();
  constructor(
    readonly graph: Graph,
    readonly prefix: string,
  ) {}

  node(
    opType: string,
    inputs: string[],
    attributes: Node['attributes'] = [],
    name = opType,
    output = this.graph.uniqueName(`${this.prefix}/${name}`),
  ): string {
    this.graph.addNode({ name: output, opType, domain: '', inputs, outputs: [output], attributes });
    return output;
  }

  scalar(value: number): string {
    const key = `evolq::${value}`;
    if (!this.graph.initializers.has(key)) this.graph.addInitializer(floatTensor(key, [], Float32Array.of(value)));
    return key;
  }

  ints(name: string, values: number[]): string {
    const key = this.graph.uniqueName(`${this.prefix}::${name}`);
    this.graph.addInitializer(int64Tensor(key, [values.length], values));
    return key;
  }

  uint8(value: number): string {
    const key = `evolq::u8::${value}`;
    if (!this.graph.initializers.has(key)) {
      this.graph.addInitializer(
        onnx.TensorProto.create({ name: key, dims: [], dataType: DataType.UINT8, rawData: Uint8Array.of(value) }),
      );
    }
    return key;
  }

  floats(name: string, dims: number[], values: Float32Array): string {
    const key = this.graph.uniqueName(`${this.prefix}::${name}`);
    this.graph.addInitializer(floatTensor(key, dims, values));
    return key;
  }
}

/**
 * x̂ = (clamp(round(x / s) + z, 0, 2^b − 1) − z) · s as QuantizeLinear (uint8; onnxruntime's kernel divides and
 * rounds half to even), a Clip below 8 bits, and DequantizeLinear: the ops the deployed model runs.
 * With PTF (`params.channelFactor`) and `ptf` 'weights', the factors are left for the weights of the MatMuls that
 * read the tensor (ptfOnWeights).
 */
function uniformSubgraph(
  b: Builder,
  x: string,
  scale: string,
  zero: string,
  params: UniformParams,
  axis: number,
  ptf: 'mul' | 'weights' = 'mul',
): string {
  const perAxis = params.scale.length > 1 ? [makeAttribute('axis', axis)] : [];
  const factor = params.channelFactor;
  // PTF: x / (s·2^α) = (x·2^−α) / s exactly, so a per-tensor Q/DQ between two power-of-two multiplies
  // (onnxruntime's per-axis QuantizeLinear on the last axis is many times slower than per-tensor).
  const factors = factor ? b.floats('ptf', [factor.length], factor) : '';
  const input = factor ? b.node('Div', [x, factors], [], 'ptf_in') : x;
  let q = b.node('QuantizeLinear', [input, scale, zero], perAxis, 'q');
  const { qmax } = uintRange(params.bits);
  if (qmax < 255) q = b.node('Clip', [q, b.uint8(0), b.uint8(qmax)], [], 'clip');
  const dequantized = b.node('DequantizeLinear', [q, scale, zero], perAxis, 'dq');
  return factor && ptf === 'mul' ? b.node('Mul', [dequantized, factors], [], 'ptf_out') : dequantized;
}

/**
 * Whether an activation's PTF factors go onto the weights of the MatMuls that read it, diag(f)·Ŵ, instead of
 * onto the activation: each reads it as its left operand against a constant. The MatMul then reads a
 * per-tensor DequantizeLinear, as without PTF; a dequantized activation times factors would make onnxruntime
 * run a float MatMul of 4-bit weights as MatMulNBits, which requantizes its float input to int8 (0.35 points of
 * top-1 lost on vit-outlier-k8 W4A4), and a per-axis DequantizeLinear makes it fuse the attention's MatMul into
 * a MatMulIntegerToFloat that has no per-channel zero point.
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
  const b = new Builder(sim, point.id);
  const rows = b.floats('ptf_rows', [factors.length, 1], factors);
  for (const node of consumers) {
    const mul = b.node('Mul', [node.inputs[1], rows], [], 'ptf_weight');
    node.inputs[1] = mul;
    readers[node.name] = sim.producer(mul)!;
  }
  sim.invalidate();
}

/**
 * Blocked weights: the [K, N] weight seen as [blocks, size, N], each block quantized with its own scale and
 * zero point. Div, Round, Add, Clip, Sub and Mul in float compute exactly what QuantizeLinear/DequantizeLinear
 * do, in any opset (blocked QuantizeLinear needs opset 21), with the zero point kept as a float.
 */
function blockedSubgraph(
  b: Builder,
  x: string,
  scale: string,
  zero: string,
  params: UniformParams,
  dims: readonly number[],
): string {
  const { blocks, size } = params.block!;
  const grouped = b.node('Reshape', [x, b.ints('blocks', [blocks, size, dims[1]])]);
  const levels = b.node('Add', [b.node('Round', [b.node('Div', [grouped, scale])]), zero]);
  const clipped = b.node('Clip', [levels, b.scalar(0), b.scalar(uintRange(params.bits).qmax)]);
  return b.node('Reshape', [b.node('Mul', [b.node('Sub', [clipped, zero]), scale]), b.ints('shape', [...dims])]);
}

/** A fed zero point (float, as the search writes it) cast to the uint8 that QuantizeLinear takes. */
function castZeroPoint(b: Builder, zeroPoint: string, params: UniformParams): string {
  const zero = b.node('Cast', [zeroPoint], [makeAttribute('to', DataType.UINT8)], 'zero_point_u8');
  return params.scale.length > 1 && params.zeroPoint.length === 1
    ? b.node('Expand', [zero, b.ints('channels', [params.scale.length])])
    : zero;
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
  return onnx.TensorProto.create({
    name,
    dims: paramDims(params).scale,
    dataType: DataType.UINT8,
    rawData: zeroPointPerScale(params),
  });
}

/** q = clamp(round(−steps·log2 x), 0, 2^b − 1), x̂ = 2^(−q/steps), 0 where round(−steps·log2 x) ≥ 2^b (scheme.ts fakeQuantLog2). */
function log2Subgraph(b: Builder, x: string, bits: number, steps = 1): string {
  const levels = 2 ** bits;
  const exponent = b.node('Round', [b.node('Mul', [b.node('Log', [x]), b.scalar(-steps / Math.LN2)])]);
  const inRange = b.node('Less', [exponent, b.scalar(levels)]);
  const clipped = b.node('Clip', [exponent, b.scalar(0), b.scalar(levels - 1)]);
  const value = b.node('Pow', [
    b.scalar(2),
    b.node('Neg', [steps === 1 ? clipped : b.node('Div', [clipped, b.scalar(steps)])]),
  ]);
  return b.node('Where', [inRange, value, b.scalar(0)]);
}

/** Nagel et al.'s bias correction in the graph: subtract E[x]·(Ŵ − W) from the layer's output. */
function biasCorrection(
  b: Builder,
  graph: Graph,
  point: QuantPoint,
  quantizedWeight: string,
  means: Float32Array,
): void {
  const node = graph.nodes.find((n) => n.name === point.node)!;
  const dims = point.dims!;
  const axis = point.channelAxis!;
  const { inputAxis, shiftShape } = biasCorrectionAxes(node, dims, axis, means);
  const delta = b.node('Sub', [quantizedWeight, point.tensor], [], 'weight_error');
  const meanDims = dims.map((d, i) => (i === inputAxis ? d : 1));
  const weighted = b.node('Mul', [delta, b.floats('input_mean', meanDims, means)]);
  const others = dims.map((_, i) => i).filter((i) => i !== axis);
  const summed = b.node('ReduceSum', [weighted, b.ints('axes', others)], [makeAttribute('keepdims', 0)]);
  // A Gemm multiplies its product by alpha, and so its error.
  const alpha = gemmAlpha(node);
  const shift = alpha === 1 ? summed : b.node('Mul', [summed, b.scalar(alpha)]);
  subtractFromOutput(graph, node, b.node('Reshape', [shift, b.ints('shift_shape', shiftShape)]));
}

/** The factor a layer multiplies its input-weight product by: a Gemm's alpha, else 1. */
export function gemmAlpha(node: Node): number {
  return node.opType === 'Gemm' ? floatAttribute(node, 'alpha', 1) : 1;
}

/**
 * Bias correction's geometry for the weight (shape `dims`, output channels on `axis`) of `node`: the weight's
 * input-channel axis, checked against the means, and the shape that makes a per-output-channel shift broadcast
 * over the layer's output.
 */
export function biasCorrectionAxes(
  node: Node,
  dims: readonly number[],
  axis: number,
  means: Float32Array,
): { inputAxis: number; shiftShape: number[] } {
  const inputAxis = node.opType === 'Conv' ? 1 : axis === dims.length - 1 ? dims.length - 2 : dims.length - 1;
  if (means.length !== dims[inputAxis])
    throw new GraphError(
      `bias correction: ${means.length} input means for weight of '${node.name}' with ${dims[inputAxis]} input channels`,
      node.name,
    );
  return { inputAxis, shiftShape: outputChannelShape(node, dims, axis) };
}

/** The shape that makes one value per output channel of the layer with weight `dims` (channels on `axis`) broadcast over its output. */
export function outputChannelShape(node: Node, dims: readonly number[], axis: number): number[] {
  return node.opType === 'Conv' ? [dims[axis], ...new Array(dims.length - 2).fill(1)] : [dims[axis]];
}

/**
 * How an output correction applies to the layer's output: one value per output channel ('channel'), or for a
 * MatMul writing [batch, tokens, channels] a row of channels for the first token and one for the others
 * ('first-token': 2 × channels values; src/search/output-correction.ts). Simulation and export alike; refuses any
 * other length.
 */
export function outputCorrectionForm(
  node: Node,
  dims: readonly number[],
  axis: number,
  correction: Float32Array,
): 'channel' | 'first-token' {
  const channels = dims[axis];
  if (correction.length === channels) return 'channel';
  if (node.opType === 'MatMul' && correction.length === 2 * channels) return 'first-token';
  throw new GraphError(
    `output correction: ${correction.length} values for the ${channels} output channels of '${node.name}'`,
    node.name,
  );
}

/** `--output-correction` in the graph: a constant added to each output channel of the layer, or the first token's and the others'. */
function outputCorrection(b: Builder, graph: Graph, point: QuantPoint, correction: Float32Array): void {
  const node = graph.nodes.find((n) => n.name === point.node)!;
  const [dims, axis] = [point.dims!, point.channelAxis!];
  const channels = dims[axis];
  if (outputCorrectionForm(node, dims, axis, correction) === 'channel') {
    subtractFromOutput(
      graph,
      node,
      b.floats(
        'output_correction',
        outputChannelShape(node, dims, axis),
        correction.map((c) => -c),
      ),
    );
    return;
  }
  const [first, others] = [correction.subarray(0, channels), correction.subarray(channels)];
  const output = node.outputs[0];
  subtractFromOutput(
    graph,
    node,
    b.floats(
      'output_correction',
      [channels],
      others.map((c) => -c),
    ),
  );
  subtractFromFirstToken(
    graph,
    output,
    b.floats(
      'output_correction_first_token',
      [channels],
      first.map((c, i) => others[i] - c),
    ),
  );
}

/**
 * Subtracts `shift` ([channels]) from the first token of `tensor` ([batch, tokens, channels]) only: the tensor's
 * producer writes a raw tensor, its first token and the rest are sliced apart, the first takes a Sub, and a Concat
 * puts them back together under the tensor's name.
 */
export function subtractFromFirstToken(graph: Graph, tensor: string, shift: string): void {
  const producer = graph.producer(tensor);
  if (!producer) throw new GraphError(`output correction: '${tensor}' has no producer to correct the first token of`);
  const raw = graph.uniqueName(`${tensor}/before_first_token`);
  producer.outputs[0] = raw;
  graph.invalidate();
  const int64 = (name: string, value: number) => {
    const key = graph.uniqueName(`${tensor}/first_token_${name}`);
    graph.addInitializer(int64Tensor(key, [1], [value]));
    return key;
  };
  const [zero, one, end, tokens] = [int64('start', 0), int64('split', 1), int64('end', 2 ** 31 - 1), int64('axis', 1)];
  const add = (
    opType: string,
    name: string,
    inputs: string[],
    output = graph.uniqueName(`${tensor}/first_token_${name}`),
    attributes: Node['attributes'] = [],
  ) => {
    graph.addNode({
      name: graph.uniqueName(`${output}/node`),
      opType,
      domain: '',
      inputs,
      outputs: [output],
      attributes,
    });
    return output;
  };
  const first = add('Sub', 'corrected', [add('Slice', 'first', [raw, zero, one, tokens]), shift]);
  const rest = add('Slice', 'rest', [raw, one, end, tokens]);
  add('Concat', 'concat', [first, rest], tensor, [makeAttribute('axis', 1)]);
}

/** Subtracts `shift` from the layer's output: the layer writes a raw tensor and the Sub takes over its output name, graph output or not. */
export function subtractFromOutput(graph: Graph, node: Node, shift: string): void {
  const output = node.outputs[0];
  const raw = graph.uniqueName(`${output}/uncorrected`);
  node.outputs[0] = raw;
  graph.invalidate();
  // A layer can get more than one (the weight correction's offset, then the output correction): node names must differ too.
  let name = `${node.name}/bias_corrected`;
  for (let k = 1; graph.nodes.some((n) => n.name === name); k++) name = `${node.name}/bias_corrected_${k}`;
  graph.addNode({ name, opType: 'Sub', domain: '', inputs: [raw, shift], outputs: [output], attributes: [] });
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
  const quantizedNames: Simulation['quantized'] = {};
  const nodesByName = new Map(sim.nodes.map((n) => [n.name, n]));
  const factorsLater: { point: QuantPoint; consumers: Node[]; factors: Float32Array }[] = [];
  for (const point of points) {
    const p = params[point.id];
    if (!p || (options.enabled && !options.enabled.has(point.id))) continue;
    const b = new Builder(sim, point.id);
    const consumers = point.consumers.map((name) => {
      const node = nodesByName.get(name);
      if (!node) throw new GraphError(`quant point ${point.id}: consumer node '${name}' is not in the graph`, name);
      return node;
    });
    // A graph output (the logits) keeps its name: the layer writes a raw tensor that is quantized into it.
    const output = sim.isGraphOutput(point.tensor) ? point.tensor : undefined;
    const source = output ? renameProducerOutput(sim, output) : point.tensor;
    let quantized: string;
    if (p.kind === 'log2') {
      quantized = log2Subgraph(b, source, p.bits, p.steps);
    } else if (p.block) {
      const dims = paramDims(p);
      const names = { scale: scaleName(point.id), zeroPoint: zeroPointName(point.id) };
      if (options.bake && !options.feed?.has(point.id)) {
        sim.addInitializer(floatTensor(names.scale, dims.scale, p.scale));
        sim.addInitializer(floatTensor(names.zeroPoint, dims.zeroPoint, p.zeroPoint));
      } else {
        sim.inputs.push(floatValueInfo(names.scale, dims.scale), floatValueInfo(names.zeroPoint, dims.zeroPoint));
        feeds[point.id] = names;
      }
      quantized = blockedSubgraph(b, source, names.scale, names.zeroPoint, p, point.dims!);
    } else {
      const dims = paramDims(p);
      const names = { scale: scaleName(point.id), zeroPoint: zeroPointName(point.id) };
      let zero: string;
      if (options.bake && !options.feed?.has(point.id)) {
        sim.addInitializer(floatTensor(names.scale, dims.scale, p.scale));
        sim.addInitializer(uint8ZeroPoints(names.zeroPoint, p));
        zero = names.zeroPoint;
      } else {
        sim.inputs.push(floatValueInfo(names.scale, dims.scale), floatValueInfo(names.zeroPoint, dims.zeroPoint));
        feeds[point.id] = names;
        zero = castZeroPoint(b, names.zeroPoint, p);
      }
      const onWeights = !!p.channelFactor && point.kind === 'activation' && ptfOnWeights(sim, point.tensor, consumers);
      quantized = uniformSubgraph(
        b,
        source,
        names.scale,
        zero,
        p,
        point.kind === 'weight' ? point.channelAxis! : -1,
        onWeights ? 'weights' : 'mul',
      );
      if (onWeights) factorsLater.push({ point, consumers, factors: p.channelFactor! });
      if (p.correction && point.kind === 'weight')
        quantized = weightCorrectionSubgraph(
          new SubgraphBuilder(sim, `${point.id}/correction`),
          quantized,
          point.dims!,
          point.channelAxis!,
          p.correction,
        );
    }
    if (output) quantized = b.node('Identity', [quantized], [], 'output', output);
    sim.rewire(point.tensor, quantized, consumers);
    quantizedNames[point.id] = quantized;
    const means = options.inputMeans?.[point.id];
    if (means && point.kind === 'weight') biasCorrection(b, sim, point, quantized, means);
    if (p.kind === 'uniform' && p.outputCorrection && point.kind === 'weight')
      outputCorrection(b, sim, point, p.outputCorrection);
  }
  // After every point: the weights the factors multiply are then the quantized ones.
  const weightReaders: Simulation['weightReaders'] = {};
  for (const { point, consumers, factors } of factorsLater)
    factorsOnWeights(sim, point, consumers, factors, weightReaders);
  integerLayerNorms(sim, points, params, quantizedNames);
  return { graph: sim, feeds, quantized: quantizedNames, weightReaders };
}

/** Renames the tensor its producer writes (the caller writes the old name again), returning the new name. */
function renameProducerOutput(graph: Graph, tensor: string): string {
  const node = graph.producer(tensor)!;
  const raw = graph.uniqueName(`${tensor}/float`);
  node.outputs = node.outputs.map((t) => (t === tensor ? raw : t));
  graph.invalidate();
  return raw;
}

/** LayerNorm inputs marked `integerLayerNorm`: their LayerNormalization becomes FQ-ViT's integer form. */
function integerLayerNorms(
  sim: Graph,
  points: readonly QuantPoint[],
  params: Readonly<Record<string, QuantParams>>,
  quantized: Readonly<Record<string, string>>,
): void {
  for (const point of points) {
    const p = params[point.id];
    if (
      p?.kind !== 'uniform' ||
      !p.integerLayerNorm ||
      !point.output ||
      !quantized[point.id] ||
      !quantized[point.output]
    )
      continue;
    const layerNorm = sim.nodes.find((n) => n.name === point.node && n.opType === 'LayerNormalization');
    const gamma = layerNorm && sim.constantValue(layerNorm.inputs[1]);
    const axis = layerNorm?.attributes.find((a) => a.name === 'axis');
    if (!layerNorm || !gamma || (axis && Number(axis.i) !== -1) || layerNorm.outputs.filter(Boolean).length > 1) {
      throw new GraphError(
        `integer LayerNorm: '${point.node}' is not a LayerNormalization over the last axis with a constant scale`,
        point.node,
      );
    }
    integerLayerNormSubgraph(
      new SubgraphBuilder(sim, `${point.id}/int_layernorm`),
      layerNorm,
      p,
      scaleName(point.id),
      scaleName(point.output),
      gamma.values.length,
    );
  }
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
    if (!names || !p || p.kind !== 'uniform') continue;
    const dims = paramDims(p);
    feeds[names.scale] = { data: p.scale, dims: dims.scale };
    feeds[names.zeroPoint] = { data: p.zeroPoint, dims: dims.zeroPoint };
  }
  return feeds;
}
