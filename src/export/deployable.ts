// The deployable model: the simulation with its weights stored as integers. Activations keep the
// simulation's QuantizeLinear/DequantizeLinear pairs; each weight becomes integer levels (int8, or uint4
// packed two per byte at opset 21) read by one DequantizeLinear, and bias correction is folded into the
// layer's bias. PTF and log2 softmax stay float subgraphs: standard ONNX has no op for either.
// With `integerKernels`, MatMuls are then written as the onnxruntime kernels that run them on integers
// (integer-kernels.ts); blocked weights become MatMulNBits (nbits.ts), and with `widenUint4: 'nibbles'` the
// 4-bit weights of those MatMuls are stored as the nibbles of uint8 bytes (nibbles.ts).
import { floatAttribute, Graph, intAttribute, makeAttribute, type Node } from '../onnx/graph.js';
import { upgradeOpset } from '../onnx/opset.js';
import {
  DataType,
  floatTensor,
  int64Tensor,
  onnx,
  tensorDims,
  tensorToFloat32,
  type TensorProto,
} from '../onnx/proto.js';
import {
  biasCorrectionAxes,
  gemmAlpha,
  materialize,
  outputChannelShape,
  outputCorrectionForm,
  subtractFromFirstToken,
  paramDims,
  subtractFromOutput,
  zeroPointPerScale,
} from '../quant/materialize.js';
import { quantizeLevel, uintRange, weightCorrection, type QuantParams, type UniformParams } from '../quant/scheme.js';
import type { QuantPoint } from '../quant/points.js';
import { GraphError } from '../errors.js';
import { integerMatMuls, fuseBiasAdds, packUint4, signedRightOperands, type Uint4Widening } from './integer-kernels.js';
import { matMulNBits } from './nbits.js';

export interface FloatSubgraph {
  point: string;
  tensor: string;
  /**
   * 'ptf': per-channel power-of-two factors around a per-tensor Q/DQ; 'log2': FQ-ViT's log2 softmax quantizer;
   * 'integer-layernorm': FQ-ViT's integer LayerNorm, its integer arithmetic written in float ops;
   * 'weight-correction': the weight correction's per-channel offset added to a dequantized weight (Conv, Gemm).
   */
  kind: 'ptf' | 'log2' | 'integer-layernorm' | 'weight-correction';
}

/** 'uint4-nibbles': 4-bit levels two to a uint8 byte, split into int8 by operators onnxruntime folds at load. */
export type WeightStorage = 'int8' | 'uint4' | 'uint4-nibbles' | 'uint4-blocked';

export interface Deployable {
  graph: Graph;
  floatSubgraphs: FloatSubgraph[];
  /** Weight storage per type: how many tensors and how many bytes of levels. */
  weights: Record<WeightStorage, { tensors: number; bytes: number }>;
}

export interface DeployOptions {
  /**
   * Write MatMuls as onnxruntime's integer kernels (com.microsoft MatMulIntegerToFloat with the bias, int8
   * right operands, MatMulNBits for blocked weights) instead of leaving Q/DQ pairs for its optimizer to fuse:
   * the fusions it does itself leave each bias Add in float, run uint8 × uint8 (several times slower than
   * uint8 × int8 on x86) and dequantize 4-bit weights at every run.
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
  const uniform = (p: QuantPoint): UniformParams => {
    const q = params[p.id];
    if (q.kind !== 'uniform')
      throw new GraphError(`weight point ${p.id} has ${q.kind} params; weights are quantized uniformly`, p.node);
    return q;
  };
  if (weightPoints.some((p) => uniform(p).bits < 8)) upgradeOpset(graph, UINT4_OPSET);

  const weights: Deployable['weights'] = {
    int8: { tensors: 0, bytes: 0 },
    uint4: { tensors: 0, bytes: 0 },
    'uint4-nibbles': { tensors: 0, bytes: 0 },
    'uint4-blocked': { tensors: 0, bytes: 0 },
  };
  const floatSubgraphs: FloatSubgraph[] = [];
  const nodes = new Map(graph.nodes.map((n) => [n.name, n]));
  for (const point of weightPoints) {
    const p = uniform(point);
    if (p.bits > 8)
      throw new GraphError(`weight point ${point.id}: ${p.bits}-bit weights cannot be stored as int8`, point.node);
    const constant = graph.constantValue(point.tensor);
    if (!constant) throw new GraphError(`weight point ${point.id}: '${point.tensor}' is not a constant`, point.node);
    const axis = point.channelAxis!;
    const { levels, dequantized } = quantizeWeight(constant.values, constant.dims, axis, p);
    const node = nodes.get(point.node)!;
    const means = inputMeans[point.id];
    if (p.block) {
      if (!integerKernels || p.bits > 4)
        throw new GraphError(
          `weight point ${point.id}: blocked ${p.bits}-bit weights are written only as 4-bit MatMulNBits (--export-format blocked, --w-bits 4 or 3)`,
          point.node,
        );
      if (p.correction)
        throw new GraphError(
          `weight point ${point.id}: the weight correction is not written for blocked weights (MatMulNBits)`,
          point.node,
        );
      foldBiasCorrection(graph, node, constant.values, dequantized, constant.dims, axis, means, p.outputCorrection);
      weights['uint4-blocked'].tensors++;
      weights['uint4-blocked'].bytes += matMulNBits(graph, node, levels, constant.dims, p);
      continue;
    }
    // The weight correction's gain folds into the scale; its offset is applied after (correctionOffset).
    const correction = p.correction ? weightCorrection(dequantized, constant.dims, axis, p.correction) : undefined;
    if (correction && p.scale.length !== correction.gain.length)
      throw new GraphError(`weight point ${point.id}: the weight correction needs per-channel scales`, point.node);
    const scales = correction ? Float32Array.from(p.scale, (s, c) => s * correction.gain[c]) : p.scale;
    const storage = p.bits <= 4 ? 'uint4' : 'int8';
    const base = graph.uniqueName(`${point.id}::q`);
    const levelTensor = integerTensor(base, constant.dims, levels, storage);
    graph.addInitializer(levelTensor);
    // One zero point per scale, so both have the scale's shape.
    const { scale: paramShape } = paramDims(p);
    graph.addInitializer(floatTensor(`${base}::scale`, paramShape, scales));
    graph.addInitializer(integerTensor(`${base}::zero_point`, paramShape, zeroPointPerScale(p), storage));
    weights[storage].tensors++;
    weights[storage].bytes += levelTensor.rawData!.length;
    const attributes = p.scale.length > 1 ? [makeAttribute('axis', axis)] : [];
    graph.addNode({
      name: `${base}::dq`,
      opType: 'DequantizeLinear',
      domain: '',
      inputs: [base, `${base}::scale`, `${base}::zero_point`],
      outputs: [`${base}::dq`],
      attributes,
    });
    // A MatMul that reads a refitted activation reads its weight through the Mul that carries the factors.
    const consumers = point.consumers.map((name) => weightReaders[name] ?? nodes.get(name)!);
    graph.rewire(point.tensor, `${base}::dq`, consumers);
    if (correction && correctionOffset(graph, node, point, `${base}::dq`, correction.offset, consumers) === 'float') {
      floatSubgraphs.push({ point: point.id, tensor: point.tensor, kind: 'weight-correction' });
    }
    foldBiasCorrection(graph, node, constant.values, dequantized, constant.dims, axis, means, p.outputCorrection);
  }
  if (integerKernels) {
    const { nibbles } = integerMatMuls(graph, { widenUint4: options.widenUint4 });
    for (const [levels, bytes] of nibbles) {
      weights.uint4.tensors--;
      weights.uint4.bytes -= graph.initializers.get(levels)!.rawData!.length;
      weights['uint4-nibbles'].tensors++;
      weights['uint4-nibbles'].bytes += bytes;
    }
    fuseBiasAdds(graph);
    signedRightOperands(graph);
  }
  pruneDeadNodes(graph);

  for (const point of points) {
    const p = params[point.id];
    if (!p || point.kind === 'weight') continue;
    if (p.kind === 'log2') floatSubgraphs.push({ point: point.id, tensor: point.tensor, kind: 'log2' });
    else if (p.channelFactor) floatSubgraphs.push({ point: point.id, tensor: point.tensor, kind: 'ptf' });
    if (p.kind === 'uniform' && p.integerLayerNorm && point.output)
      floatSubgraphs.push({ point: point.id, tensor: point.tensor, kind: 'integer-layernorm' });
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

/**
 * Levels 0..255 as int8 levels − 128 (with zero points − 128 the same values: onnxruntime's integer kernels
 * multiply uint8 by int8 several times faster than uint8 by uint8), or uint4 packed two per byte, the first
 * element in the low nibble (ONNX's layout).
 */
export function integerTensor(
  name: string,
  dims: readonly number[],
  values: Uint8Array,
  storage: 'int8' | 'uint4',
): TensorProto {
  if (storage === 'int8')
    return onnx.TensorProto.create({
      name,
      dims: [...dims],
      dataType: DataType.INT8,
      rawData: values.map((v) => (v - 128) & 0xff),
    });
  const over = values.findIndex((v) => v > 15);
  if (over >= 0) throw new GraphError(`uint4 tensor '${name}': level ${values[over]} does not fit 4 bits`);
  return onnx.TensorProto.create({ name, dims: [...dims], dataType: DataType.UINT4, rawData: packUint4(values) });
}

/**
 * Nagel et al.'s correction b' = b − (Ŵ − W)·E[x] (with `means`) and `--output-correction`'s b' = b + o (with
 * `correction`), computed here once instead of in the graph: into the bias of a Conv or Gemm, or of the Add that
 * follows a MatMul, else a Sub of a constant after the layer. An output correction with a row for the first token
 * and one for the others folds the others' row so, and puts the first token's difference after (subtractFromFirstToken).
 */
function foldBiasCorrection(
  graph: Graph,
  node: Node,
  weight: Float32Array,
  dequantized: Float32Array,
  dims: readonly number[],
  axis: number,
  means: Float32Array | undefined,
  correction: Float32Array | undefined,
): void {
  if (!means && !correction) return;
  const form = correction ? outputCorrectionForm(node, dims, axis, correction) : 'channel';
  // The first token's correction beyond the other tokens' ([channels]).
  const firstToken =
    form === 'first-token'
      ? Float32Array.from({ length: dims[axis] }, (_, c) => correction![c] - correction![dims[axis] + c])
      : undefined;
  const shiftShape = outputChannelShape(node, dims, axis);
  const shift = new Float64Array(dims[axis]);
  if (means) {
    const { inputAxis } = biasCorrectionAxes(node, dims, axis, means);
    const strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
    const alpha = gemmAlpha(node);
    for (let i = 0; i < weight.length; i++) {
      const c = Math.floor(i / strides[axis]) % dims[axis];
      const k = Math.floor(i / strides[inputAxis]) % dims[inputAxis];
      shift[c] += alpha * (dequantized[i] - weight[i]) * means[k];
    }
  }
  // Per channel, or the other tokens' row (the first token's difference goes after the fold).
  if (correction) for (let c = 0; c < shift.length; c++) shift[c] -= correction[(firstToken ? shift.length : 0) + c];
  /** The first token's difference, subtracted after the tensor the bias went into. */
  const thenFirstToken = (tensor: string) => {
    if (!firstToken) return;
    const constant = graph.uniqueName(`${node.name}/first_token_correction`);
    graph.addInitializer(
      floatTensor(
        constant,
        [firstToken.length],
        firstToken.map((d) => -d),
      ),
    );
    subtractFromFirstToken(graph, tensor, constant);
  };
  // A Gemm adds its bias times beta: the bias moves by shift / beta (and a Gemm with beta 0 takes the Sub below).
  const beta = node.opType === 'Gemm' ? floatAttribute(node, 'beta', 1) : 1;
  /** A new initializer holding `bias − shift / beta` (a zero bias when there is none), named after `owner`. */
  const corrected = (owner: string, source: TensorProto | undefined): string => {
    const name = graph.uniqueName(`${owner}/bias_corrected`);
    const old = source ? tensorToFloat32(source) : new Float32Array(shift.length);
    graph.addInitializer(
      floatTensor(
        name,
        source ? tensorDims(source) : [shift.length],
        old.map((b, c) => b - shift[c] / beta),
      ),
    );
    graph.invalidate();
    return name;
  };
  if (node.opType === 'Conv' || (node.opType === 'Gemm' && beta !== 0)) {
    const bias = node.inputs[2];
    const source = bias ? graph.constantSource(bias) : undefined;
    if (!bias || (source && tensorDims(source).reduce((a, b) => a * b, 1) === shift.length)) {
      while (node.inputs.length < 3) node.inputs.push('');
      node.inputs[2] = corrected(node.name, source);
      return;
    }
  }
  const output = node.outputs[0];
  const [add] = graph.consumers(output);
  if (
    node.opType === 'MatMul' &&
    add?.opType === 'Add' &&
    graph.consumers(output).length === 1 &&
    !graph.isGraphOutput(output)
  ) {
    const biasInput = add.inputs.findIndex((t) => t !== output);
    const source = graph.constantSource(add.inputs[biasInput]);
    if (source && tensorDims(source).length === 1 && tensorDims(source)[0] === shift.length) {
      add.inputs[biasInput] = corrected(add.name, source);
      thenFirstToken(add.outputs[0]);
      return;
    }
  }
  // No bias to fold into: subtract a constant after the layer.
  const constant = graph.uniqueName(`${node.name}/bias_correction`);
  graph.addInitializer(floatTensor(constant, shiftShape, Float32Array.from(shift)));
  subtractFromOutput(graph, node, constant);
  thenFirstToken(output);
}

/**
 * The weight correction's offset o (per output channel) on top of the rescaled dequantized weight. A MatMul
 * x·W with W on the right computes x·(Ŵ + o) = x·Ŵ + (Σₖ xₖ)·o, which keeps its integer kernel: 'integer'; so
 * does a Gemm x·W or x·Wᵀ (alpha 1: beta scales only its bias).
 * Other layers read Ŵ + o, a float Add on the dequantized weight: 'float'.
 */
function correctionOffset(
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
  // The axis of W's output channels: MatMul's last; a plain Gemm's (A not transposed, alpha 1) 0 or 1 by transB.
  const plainGemm =
    node.opType === 'Gemm' && !intAttribute(node, 'transA', 0) && floatAttribute(node, 'alpha', 1) === 1;
  const outputAxis = node.opType === 'MatMul' ? dims.length - 1 : plainGemm ? 1 - intAttribute(node, 'transB', 0) : -1;
  if (node.inputs[1] === dequantized && axis === outputAxis && consumers.length === 1) {
    const rowSums = `${name}::row_sums`;
    graph.addInitializer(int64Tensor(`${name}::axes`, [1], [-1]));
    graph.addNode({
      name: rowSums,
      opType: 'ReduceSum',
      domain: '',
      inputs: [node.inputs[0], `${name}::axes`],
      outputs: [rowSums],
      attributes: [makeAttribute('keepdims', 1)],
    });
    graph.addInitializer(
      floatTensor(
        `${name}::negative_offset`,
        [offset.length],
        offset.map((o) => -o),
      ),
    );
    graph.addNode({
      name: `${name}::shift`,
      opType: 'Mul',
      domain: '',
      inputs: [rowSums, `${name}::negative_offset`],
      outputs: [`${name}::shift`],
      attributes: [],
    });
    subtractFromOutput(graph, node, `${name}::shift`);
    return 'integer';
  }
  graph.addInitializer(
    floatTensor(
      `${name}::offset`,
      dims.map((d, i) => (i === axis ? d : 1)),
      offset,
    ),
  );
  graph.addNode({
    name: `${name}::weight`,
    opType: 'Add',
    domain: '',
    inputs: [dequantized, `${name}::offset`],
    outputs: [`${name}::weight`],
    attributes: [],
  });
  graph.rewire(dequantized, `${name}::weight`, consumers);
  return 'float';
}

/** Drops nodes none of whose outputs is read (the Constant nodes of weights now stored as integers). */
function pruneDeadNodes(graph: Graph): void {
  for (let changed = true; changed;) {
    changed = false;
    const before = graph.nodes.length;
    graph.nodes = graph.nodes.filter((n) =>
      n.outputs.some((t) => t && (graph.consumers(t).length > 0 || graph.isGraphOutput(t))),
    );
    if (graph.nodes.length !== before) {
      graph.invalidate();
      changed = true;
    }
  }
}
