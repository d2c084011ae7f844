// `--output-correction`: each layer's mean output moved back onto the float model's. The error of a 4-bit
// activation is not zero-mean (a clipped tail, a skewed distribution rounded onto 16 levels), so every layer that
// reads one drifts, and passes the drift on. Layers are corrected in graph order, each measured with the
// corrections before it in place (all at once overshoots); the correction goes into the layer's bias. A MatMul
// whose output is [batch, tokens, channels] gets one row of channels for its first token and one for the others:
// ViT's class token drifts unlike the patch tokens, and the classifier reads only it (docs/notes/search.md).
import type { Graph } from '../onnx/graph.js';
import type { QuantPoint } from '../quant/points.js';
import type { QuantParams, UniformParams } from '../quant/scheme.js';
import type { Simulation } from '../quant/materialize.js';
import type { Runner, SessionOptions } from '../runtime/runner.js';
import { extractSubgraph } from '../onnx/extract.js';
import { batchRanges, sliceBatch, type ImageBatch } from '../data/imagefolder.js';
import { nodesByName } from '../onnx/lookup.js';

/**
 * Calibration images the means are taken over (the first this many). Each layer costs a forward of them through
 * the model up to it (see correctionFetches; its cost against a pass: bench/correction-cost.ts).
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

/**
 * The options of the sessions that fetch layer outputs: the search's, with onnxruntime's optimizations at most
 * 'extended'. At 'all' its NCHWc layout crashed the process (SIGSEGV, onnxruntime-node 1.x) fetching the output
 * of a Conv that feeds a residual Add in a 4-bit simulation (resnet-cifar10-small, test/e2e/search.test.ts);
 * 'extended' keeps the constant folding that rounds weights as the search's sessions do.
 */
function probeOptions(options: SessionOptions | undefined): SessionOptions {
  return {
    ...options,
    optimization: options?.optimization && options.optimization !== 'all' ? options.optimization : 'extended',
  };
}

/** The weight points whose layer gets a correction, in graph order: uniform, one scale per output channel or one in all. */
export function correctedLayers(
  graph: Graph,
  points: readonly QuantPoint[],
  params: Readonly<Record<string, QuantParams>>,
): QuantPoint[] {
  const order = new Map(graph.topoOrder().map((n, i) => [n.name, { i, op: n.opType }]));
  return points
    .filter(
      (p) =>
        p.kind === 'weight' &&
        params[p.id]?.kind === 'uniform' &&
        p.dims &&
        p.channelAxis !== undefined &&
        LAYER_OPS.has(order.get(p.node)?.op ?? ''),
    )
    .sort((a, b) => order.get(a.node)!.i - order.get(b.node)!.i);
}

/**
 * The tensors each forward of outputCorrections fetches, in order: every layer's output from the float model, then
 * each layer's own from the simulation. A forward runs only the nodes those tensors are computed from
 * (extractSubgraph): onnxruntime runs every node of a graph, needed or not (docs/notes/search.md).
 */
export function correctionFetches(
  graph: Graph,
  points: readonly QuantPoint[],
  params: Readonly<Record<string, QuantParams>>,
): string[][] {
  const nodes = nodesByName(graph);
  const outputs = correctedLayers(graph, points, params).map((p) => nodes.get(p.node)!.outputs[0]);
  return outputs.length ? [outputs, ...outputs.map((o) => [o])] : [];
}

/** Adds a layer's output to `sum`: per channel (on axis 1 for Conv, else the last), or per position, over axis 0 only; returns the values added per entry. */
function accumulate(
  sum: Float64Array,
  data: Float32Array,
  dims: readonly number[],
  conv: boolean,
  perPosition: boolean,
): number {
  if (perPosition) {
    if (data.length !== dims[0] * sum.length)
      throw new Error(
        `output correction: an output of ${dims.slice(1).join('×')} per image where ${sum.length} values were expected`,
      );
    for (let i = 0; i < data.length; i++) sum[i % sum.length] += data[i];
    return dims[0];
  }
  const channels = sum.length;
  const axis = conv ? 1 : dims.length - 1;
  if (dims[axis] !== channels)
    throw new Error(`output correction: an output of ${dims[axis]} channels where the weight has ${channels}`);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  for (let i = 0; i < data.length; i++) sum[Math.floor(i / inner) % channels] += data[i];
  return data.length / channels;
}

/**
 * Per layer, the tokens of its output when it is a MatMul writing [batch, tokens, channels], two tokens or more,
 * whose token count is the same for one image and for two (a sequence-first layout, [tokens, batch, channels], is
 * not), else 0: those layers get a row for the first token and one for the others.
 */
async function tokensPerLayer(
  setup: OutputCorrectionSetup,
  layers: readonly QuantPoint[],
  output: (p: QuantPoint) => string,
  calibration: ImageBatch,
): Promise<number[]> {
  const nodes = nodesByName(setup.graph);
  const candidates = layers.filter((p) => nodes.get(p.node)!.opType === 'MatMul');
  if (!candidates.length || calibration.dims[0] < 2) return layers.map(() => 0);
  const probe = extractSubgraph(setup.graph, [setup.inputName], candidates.map(output));
  const session = await setup.runner.createSession(probe.toBytes(), probeOptions(setup.sessionOptions));
  const dimsAt = async (n: number) => {
    const batch = sliceBatch(calibration, 0, n);
    const out = await session.run(
      { [setup.inputName]: { data: batch.data, dims: batch.dims } },
      candidates.map(output),
    );
    return candidates.map((p) => out[output(p)].dims);
  };
  try {
    const [one, two] = [await dimsAt(1), await dimsAt(2)];
    const tokens = new Map(
      candidates.map((p, i) => {
        const [a, b] = [one[i], two[i]];
        const batchFirst =
          a.length === 3 &&
          b.length === 3 &&
          a[0] === 1 &&
          b[0] === 2 &&
          a[1] === b[1] &&
          a[1] >= 2 &&
          a[2] === b[2] &&
          a[2] === p.dims![p.channelAxis!];
        return [p.id, batchFirst ? a[1] : 0];
      }),
    );
    return layers.map((p) => tokens.get(p.id) ?? 0);
  } finally {
    await session.release();
  }
}

/**
 * The corrections, layer by layer: float mean output minus the quantized model's, on the first `images` of
 * `calibration`, each layer measured with `params` and the corrections of the layers before it; `ran` hears of
 * each batch of images run. A correction holds one value per output channel, or a row of channels for the first
 * token and one for the others ([2, channels], see tokensPerLayer).
 */
export async function outputCorrections(
  setup: OutputCorrectionSetup,
  params: Readonly<Record<string, QuantParams>>,
  calibration: ImageBatch,
  images = OUTPUT_CORRECTION_IMAGES,
  ran?: (images: number) => void,
): Promise<Record<string, Float32Array>> {
  const layers = correctedLayers(setup.graph, setup.points, params);
  const n = Math.min(images, calibration.dims[0]);
  const nodes = nodesByName(setup.graph);
  const output = (p: QuantPoint) => nodes.get(p.node)!.outputs[0];
  const conv = (p: QuantPoint) => nodes.get(p.node)!.opType === 'Conv';
  const tokenCounts = await tokensPerLayer(setup, layers, output, calibration);
  const tokens = new Map(layers.map((p, i) => [p.id, tokenCounts[i]]));
  const size = (p: QuantPoint) => p.dims![p.channelAxis!] * (tokens.get(p.id) || 1);
  /** The mean output of each of `layersRead` over the images (per channel, or the first token's and the others'), from a model that outputs them. */
  const sums = async (model: Graph, layersRead: readonly QuantPoint[]) => {
    const probe = extractSubgraph(model, [setup.inputName], layersRead.map(output));
    const session = await setup.runner.createSession(probe.toBytes(), probeOptions(setup.sessionOptions));
    const totals = layersRead.map((p) => ({ sum: new Float64Array(size(p)), count: 0 }));
    try {
      for (const [start, end] of batchRanges(n, setup.batchSize)) {
        const batch = sliceBatch(calibration, start, end);
        const out = await session.run(
          { [setup.inputName]: { data: batch.data, dims: batch.dims } },
          layersRead.map(output),
        );
        layersRead.forEach(
          (p, i) =>
            (totals[i].count += accumulate(
              totals[i].sum,
              out[output(p)].data,
              out[output(p)].dims,
              conv(p),
              tokens.get(p.id)! > 0,
            )),
        );
        ran?.(end - start);
      }
    } finally {
      await session.release();
    }
    return layersRead.map((p, i) => {
      const means = Float32Array.from(totals[i].sum, (v) => v / totals[i].count);
      return tokens.get(p.id) ? firstTokenAndRest(means, p.dims![p.channelAxis!]) : means;
    });
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

/** Per-token means [tokens, channels] as two rows: the first token's, and the mean of the others'. */
function firstTokenAndRest(means: Float32Array, channels: number): Float32Array {
  const tokens = means.length / channels;
  const out = new Float32Array(2 * channels);
  out.set(means.subarray(0, channels));
  for (let t = 1; t < tokens; t++)
    for (let c = 0; c < channels; c++) out[channels + c] += means[t * channels + c] / (tokens - 1);
  return out;
}

/** `params` with each layer's correction set (layers not in `corrections` keep what they have). */
export function withOutputCorrections(
  params: Readonly<Record<string, QuantParams>>,
  corrections: Readonly<Record<string, ArrayLike<number>>>,
): Record<string, QuantParams> {
  const out: Record<string, QuantParams> = { ...params };
  for (const [id, values] of Object.entries(corrections)) {
    const p = params[id];
    if (p?.kind === 'uniform') out[id] = { ...p, outputCorrection: Float32Array.from(values) };
  }
  return out;
}
