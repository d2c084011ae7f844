// What the widths cost in time on this machine: each uniform width's model.onnx and the chosen one timed against
// the float model at batch 1 (interleaved rounds), and each weight layer alone, float and integer
// (widths/layer-times.ts). For report.json's `widths` and report.html's accuracy-against-latency plot; under
// --latency-budget the same measures choose the widths (latency-widths.ts).
import { sliceBatch } from '../data/imagefolder.js';
import type { FloatTensor } from '../runtime/runner.js';
import { layerTimes, timeModels, type LayerModels, type LayerTime } from '../widths/layer-times.js';
import type { WidthContext, WidthSettling } from './width-context.js';

/** One image at batch 1: the first holdout image, else the first calibration image. */
export function timingFeeds(run: WidthSettling): Record<string, FloatTensor> {
  const images = run.holdout.dims[0] ? run.holdout : run.calibration;
  return { [run.prepared.model.inputName]: sliceBatch(images, 0, 1) };
}

/** What cutting out the layers of the calibrated model needs. */
export function layerModelsOf(run: WidthSettling): LayerModels {
  const { prepared, table, options } = run;
  return {
    graph: prepared.model.graph,
    points: prepared.points,
    params: table.params,
    inputMeans: table.inputMeans,
    format: options.exportFormat,
  };
}

export interface WidthLatency {
  /** Milliseconds at batch 1, medians over interleaved rounds: float, each uniform width, the chosen widths. */
  floatMs: number;
  uniformMs: number[];
  ms: number;
  layers: Record<string, LayerTime>;
}

/** Times float, every uniform width and `widths` against each other, and each layer alone (unless given). */
export async function widthLatency(
  c: WidthContext,
  widths: Record<string, number>,
  layers?: Record<string, LayerTime>,
): Promise<WidthLatency> {
  const { run } = c;
  const feeds = timingFeeds(run);
  const models = [run.prepared.model.graph.toBytes(), ...c.exports.map((e) => e.file), c.build(widths)];
  const [floatMs, ...rest] = await timeModels(run.runner, models, feeds);
  return {
    floatMs,
    uniformMs: rest.slice(0, -1),
    ms: rest[rest.length - 1],
    layers: layers ?? (await layerTimes(run.runner, layerModelsOf(run), c.weights, feeds, run.progress)),
  };
}
