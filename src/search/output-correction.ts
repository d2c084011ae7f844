// `--output-correction`: each layer's mean output per channel, moved back onto the float model's. The error of a
// 4-bit activation is not zero-mean (a clipped tail, a skewed distribution rounded onto 16 levels), so every layer
// that reads one drifts, and passes the drift on. Layers are corrected in graph order, each measured with the
// corrections before it in place (all at once overshoots: vit-cifar10 W4A4, calibration KL 0.038 → 0.044 → 0.057
// in two rounds); the correction goes into the layer's bias.
import type { Graph } from '../onnx/graph.js';
import type { QuantPoint } from '../quant/points.js';
import type { QuantParams, UniformParams } from '../quant/scheme.js';
import type { Simulation } from '../quant/materialize.js';
import type { Runner, SessionOptions } from '../runtime/runner.js';
import { floatValueInfo } from '../onnx/proto.js';
import { batchRanges, sliceBatch, type ImageBatch } from '../data/imagefolder.js';

/**
 * Calibration images the means are taken over (the first this many). Each layer costs a forward of them up to it:
 * vit-cifar10 has 26 layers, 6,656 image-forwards at 256 images.
 */
export const OUTPUT_CORRECTION_IMAGES = 256;

export interface OutputCorrectionSetup {
  runner: Runner;
  graph: Graph;
  points: readonly QuantPoint[];
  inputName: string;
  batchSize: number;
  simulate: (params: Readonly<Record<string, QuantParams>>) => Simulation;
  /** The sessions' options: onnxruntime's defaults, as the search's forwards run (its optimizations can round a weight differently). */
  sessionOptions?: SessionOptions;
}

const LAYER_OPS = new Set(['MatMul', 'Gemm', 'Conv']);

/** The weight points whose layer gets a correction, in graph order: uniform, one scale per output channel or one in all. */
export function correctedLayers(graph: Graph, points: readonly QuantPoint[], params: Readonly<Record<string, QuantParams>>): QuantPoint[] {
  const order = new Map(graph.topoOrder().map((n, i) => [n.name, { i, op: n.opType }]));
  return points
    .filter((p) => p.kind === 'weight' && params[p.id]?.kind === 'uniform' && p.dims && p.channelAxis !== undefined && LAYER_OPS.has(order.get(p.node)?.op ?? ''))
    .sort((a, b) => order.get(a.node)!.i - order.get(b.node)!.i);
}

/** Per output channel, the mean of a layer's output over images and positions (channels on axis 1 for Conv, else last). */
function channelMeans(sum: Float64Array, count: number): Float32Array {
  return Float32Array.from(sum, (s) => s / count);
}

function accumulate(sum: Float64Array, data: Float32Array, dims: readonly number[], conv: boolean): number {
  const channels = sum.length;
  const axis = conv ? 1 : dims.length - 1;
  if (dims[axis] !== channels) throw new Error(`output correction: an output of ${dims[axis]} channels where the weight has ${channels}`);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  for (let i = 0; i < data.length; i++) sum[Math.floor(i / inner) % channels] += data[i];
  return data.length / channels;
}

/**
 * The corrections, layer by layer: float mean output minus the quantized model's, on the first `images` of
 * `calibration`, each layer measured with `params` and the corrections of the layers before it; `ran` hears of
 * each batch of images run.
 */
export async function outputCorrections(
  setup: OutputCorrectionSetup, params: Readonly<Record<string, QuantParams>>, calibration: ImageBatch,
  images = OUTPUT_CORRECTION_IMAGES, ran?: (images: number) => void,
): Promise<Record<string, Float32Array>> {
  const layers = correctedLayers(setup.graph, setup.points, params);
  const n = Math.min(images, calibration.dims[0]);
  const nodes = new Map(setup.graph.nodes.map((node) => [node.name, node]));
  const output = (p: QuantPoint) => nodes.get(p.node)!.outputs[0];
  const conv = (p: QuantPoint) => nodes.get(p.node)!.opType === 'Conv';
  const channels = (p: QuantPoint) => p.dims![p.channelAxis!];
  /** Per-channel sums of `tensors` over the images, from a model that outputs them. */
  const sums = async (model: Graph, layersRead: readonly QuantPoint[]) => {
    const probe = model.clone();
    probe.outputs = layersRead.map((p) => floatValueInfo(output(p)));
    const session = await setup.runner.createSession(probe.toBytes(), setup.sessionOptions);
    const totals = layersRead.map((p) => ({ sum: new Float64Array(channels(p)), count: 0 }));
    try {
      for (const [start, end] of batchRanges(n, setup.batchSize)) {
        const batch = sliceBatch(calibration, start, end);
        const out = await session.run({ [setup.inputName]: { data: batch.data, dims: batch.dims } }, layersRead.map(output));
        layersRead.forEach((p, i) => (totals[i].count += accumulate(totals[i].sum, out[output(p)].data, out[output(p)].dims, conv(p))));
        ran?.(end - start);
      }
    } finally {
      await session.release();
    }
    return totals.map((t) => channelMeans(t.sum, t.count));
  };
  const float = await sums(setup.graph, layers);
  const corrected: Record<string, QuantParams> = { ...params };
  // Corrections already in `params` are measured over again.
  for (const p of layers) corrected[p.id] = { ...(params[p.id] as UniformParams), outputCorrection: undefined };
  const corrections: Record<string, Float32Array> = {};
  for (const [i, p] of layers.entries()) {
    const [quantized] = await sums(setup.simulate(corrected).graph, [p]);
    corrections[p.id] = Float32Array.from(float[i], (f, c) => f - quantized[c]);
    corrected[p.id] = { ...(corrected[p.id] as UniformParams), outputCorrection: corrections[p.id] };
  }
  return corrections;
}

/** `params` with each layer's correction set (layers not in `corrections` keep what they have). */
export function withOutputCorrections(params: Readonly<Record<string, QuantParams>>, corrections: Readonly<Record<string, ArrayLike<number>>>): Record<string, QuantParams> {
  const out: Record<string, QuantParams> = { ...params };
  for (const [id, values] of Object.entries(corrections)) {
    const p = params[id];
    if (p?.kind === 'uniform') out[id] = { ...p, outputCorrection: Float32Array.from(values) };
  }
  return out;
}
