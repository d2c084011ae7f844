// Corrections that shift a quantized layer's output per channel: Nagel et al.'s bias correction
// (`--bias-correction`: b' = b − (Ŵ − W)·E[x]) and `--output-correction` (b' = b + o). In the simulation a
// subtraction after the layer (so the searched weight's error is corrected as it is fed); in the export folded
// into the layer's bias once; in quant.json the output correction's values.
import { floatAttribute, makeAttribute, type Graph, type Node } from '../../onnx/graph.js';
import { NodeBuilder } from '../../onnx/builder.js';
import { floatTensor, tensorDims, tensorToFloat32, type TensorProto } from '../../onnx/proto.js';
import { subtractFromFirstToken, subtractFromOutput } from '../../onnx/edits.js';
import { GraphError } from '../../errors.js';
import type { QuantParams } from '../scheme.js';
import type { QuantPoint } from '../points.js';
import { nodeNamed } from '../../onnx/lookup.js';

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

/** Nagel et al.'s bias correction in the graph: subtract E[x]·(Ŵ − W) from the layer's output. */
function biasCorrection(b: NodeBuilder, point: QuantPoint, quantizedWeight: string, means: Float32Array): void {
  const graph = b.graph;
  const node = nodeNamed(graph, point.node)!;
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
  const shift = alpha === 1 ? summed : b.node('Mul', [summed, b.sharedScalar(alpha)]);
  subtractFromOutput(graph, node, b.node('Reshape', [shift, b.ints('shift_shape', shiftShape)]));
}

/** `--output-correction` in the graph: a constant added to each output channel of the layer, or the first token's and the others'. */
function outputCorrection(b: NodeBuilder, point: QuantPoint, correction: Float32Array): void {
  const graph = b.graph;
  const node = nodeNamed(graph, point.node)!;
  const [dims, axis] = [point.dims!, point.channelAxis!];
  const channels = dims[axis];
  if (outputCorrectionForm(node, dims, axis, correction) === 'channel') {
    const shape = outputChannelShape(node, dims, axis);
    subtractFromOutput(
      graph,
      node,
      b.floats(
        'output_correction',
        shape,
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
  const firstToken = first.map((c, i) => others[i] - c);
  subtractFromFirstToken(graph, output, b.floats('output_correction_first_token', [channels], firstToken));
}

/** A quantized weight's layer corrections in the simulation: bias correction with `means`, then the output correction. */
export function simulateLayerCorrections(
  b: NodeBuilder,
  point: QuantPoint,
  quantizedWeight: string,
  means: Float32Array | undefined,
  p: QuantParams,
): void {
  if (point.kind !== 'weight') return;
  if (means) biasCorrection(b, point, quantizedWeight, means);
  if (p.kind === 'uniform' && p.outputCorrection) outputCorrection(b, point, p.outputCorrection);
}

/** quant.json's form of the output correction: its values and their shape. */
export function outputCorrectionJson(point: QuantPoint, p: QuantParams): Record<string, unknown> {
  if (p.kind !== 'uniform' || !p.outputCorrection) return {};
  // One value per output channel, or [2, channels]: the first token's row, then the other tokens'.
  const channels = point.dims![point.channelAxis!];
  const length = p.outputCorrection.length;
  return {
    output_correction: Array.from(p.outputCorrection),
    output_correction_shape: length === channels ? [channels] : [length / channels, channels],
  };
}

/** The weight of a layer being exported: its float and dequantized values, shape and output-channel axis. */
export interface ExportedWeight {
  values: Float32Array;
  dequantized: Float32Array;
  dims: readonly number[];
  axis: number;
}

/**
 * The per-channel shift b − b' of both corrections (the output correction's row for the tokens after the first,
 * where it has two) and the first token's correction beyond the others' ([channels]), where it has two.
 */
function layerShift(
  node: Node,
  weight: ExportedWeight,
  means: Float32Array | undefined,
  correction: Float32Array | undefined,
): { shift: Float64Array; firstToken?: Float32Array } {
  const { dims, axis, values, dequantized } = weight;
  const form = correction ? outputCorrectionForm(node, dims, axis, correction) : 'channel';
  const firstToken =
    form === 'first-token'
      ? Float32Array.from({ length: dims[axis] }, (_, c) => correction![c] - correction![dims[axis] + c])
      : undefined;
  const shift = new Float64Array(dims[axis]);
  if (means) {
    const { inputAxis } = biasCorrectionAxes(node, dims, axis, means);
    const strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
    const alpha = gemmAlpha(node);
    for (let i = 0; i < values.length; i++) {
      const c = Math.floor(i / strides[axis]) % dims[axis];
      const k = Math.floor(i / strides[inputAxis]) % dims[inputAxis];
      shift[c] += alpha * (dequantized[i] - values[i]) * means[k];
    }
  }
  if (correction) for (let c = 0; c < shift.length; c++) shift[c] -= correction[(firstToken ? shift.length : 0) + c];
  return { shift, firstToken };
}

/**
 * Nagel et al.'s correction b' = b − (Ŵ − W)·E[x] (with `means`) and `--output-correction`'s b' = b + o (with
 * `correction`), computed here once instead of in the graph: into the bias of a Conv or Gemm, or of the Add that
 * follows a MatMul, else a Sub of a constant after the layer. An output correction with a row for the first token
 * and one for the others folds the others' row so, and puts the first token's difference after (subtractFromFirstToken).
 */
export function foldLayerCorrections(
  graph: Graph,
  node: Node,
  weight: ExportedWeight,
  means: Float32Array | undefined,
  correction: Float32Array | undefined,
): void {
  if (!means && !correction) return;
  const { shift, firstToken } = layerShift(node, weight, means, correction);
  const shiftShape = outputChannelShape(node, weight.dims, weight.axis);
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
  if (foldIntoBias(graph, node, shift, thenFirstToken)) return;
  // No bias to fold into: subtract a constant after the layer.
  const output = node.outputs[0];
  const constant = graph.uniqueName(`${node.name}/bias_correction`);
  graph.addInitializer(floatTensor(constant, shiftShape, Float32Array.from(shift)));
  subtractFromOutput(graph, node, constant);
  thenFirstToken(output);
}

/** Moves `shift` into the bias of a Conv or Gemm, or of the Add of a constant after a MatMul; false when there is none. */
function foldIntoBias(
  graph: Graph,
  node: Node,
  shift: Float64Array,
  thenFirstToken: (tensor: string) => void,
): boolean {
  // A Gemm adds its bias times beta: the bias moves by shift / beta (and a Gemm with beta 0 takes the Sub after).
  const beta = node.opType === 'Gemm' ? floatAttribute(node, 'beta', 1) : 1;
  /** A new initializer holding `bias − shift / beta` (a zero bias when there is none), named after `owner`. */
  const corrected = (owner: string, source: TensorProto | undefined): string => {
    const name = graph.uniqueName(`${owner}/bias_corrected`);
    const old = source ? tensorToFloat32(source) : new Float32Array(shift.length);
    const dims = source ? tensorDims(source) : [shift.length];
    graph.addInitializer(
      floatTensor(
        name,
        dims,
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
      return true;
    }
  }
  const output = node.outputs[0];
  const [add] = graph.consumers(output);
  const soleAdd = add?.opType === 'Add' && graph.consumers(output).length === 1 && !graph.isGraphOutput(output);
  if (node.opType === 'MatMul' && soleAdd) {
    const biasInput = add.inputs.findIndex((t) => t !== output);
    const source = graph.constantSource(add.inputs[biasInput]);
    if (source && tensorDims(source).length === 1 && tensorDims(source)[0] === shift.length) {
      add.inputs[biasInput] = corrected(add.name, source);
      thenFirstToken(add.outputs[0]);
      return true;
    }
  }
  return false;
}
