// Streaming statistics of intermediate tensors: run the float model in chunks of images whose size follows from
// a memory budget. Ranges are reduced inside onnxruntime (ReduceMin/ReduceMax), so no tensor leaves it whole
// unless a statistic needs its values: the sample statistics (OMSE, PTF) of the last batch, channel means, and
// the percentile observer's per-batch quantiles.
import type { Graph } from '../onnx/graph.js';
import { floatValueInfo } from '../onnx/proto.js';
import type { Runner, FloatTensor, Session } from '../runtime/runner.js';
import { batchRanges, sliceBatch, type ImageBatch } from '../data/imagefolder.js';
import { silentProgress, type Progress } from '../progress.js';
import { DEFAULT_MEMORY_BUDGET, budgetBeside } from '../memory.js';
import { PercentileTracker } from './observers/percentile.js';
import { SampleStatistics } from './sample-statistics.js';
import type { StatsRequest, TensorStats } from './tensor-stats.js';
import { probeGraph } from './probe.js';
import { forChunks } from './chunks.js';

/** How a calibration ran, for report.json: images per onnxruntime run, and the bytes per image that set them. */
export interface CollectReport {
  /** Images per run over all images (ranges, means, percentiles) and per run over the sample batch. */
  chunk: number;
  sampleChunk: number;
  /**
   * Bytes per image of the requested tensors (onnxruntime holds them all until a run ends, reduced or not:
   * its execution order puts the reductions last) and of the sample statistics' tensors, fetched whole.
   */
  bytesPerImage: { ranges: number; sample: number };
}

/** What the steps of one collection share. */
interface Collection {
  runner: Runner;
  graph: Graph;
  inputName: string;
  images: ImageBatch;
  requests: readonly StatsRequest[];
  batchSize: number;
  progress: Progress;
  /** Bytes the fetched tensors may hold beside the images. */
  outputBudget: number;
  stats: Map<string, TensorStats>;
  chunks: CollectReport;
}

function accumulateMean(stats: TensorStats, value: FloatTensor, meanAxis: number): void {
  const data = value.data;
  const axis = meanAxis < 0 ? value.dims.length + meanAxis : meanAxis;
  const channels = value.dims[axis];
  let inner = 1;
  for (let d = axis + 1; d < value.dims.length; d++) inner *= value.dims[d];
  const sums = (stats.channelSum ??= new Float64Array(channels));
  // In index order, as one pass over the whole set would add them.
  for (let i = 0, c = 0; i < data.length; c = (c + 1) % channels) {
    for (let end = i + inner; i < end; i++) sums[c] += data[i];
  }
  stats.channelCount = (stats.channelCount ?? 0) + data.length / channels;
}

/** Folds one run's reduced ranges into each tensor's range. */
function foldRanges(
  stats: Map<string, TensorStats>,
  reduced: Map<string, { min: string; max: string; nan: string }>,
  values: Record<string, FloatTensor>,
): void {
  for (const [t, names] of reduced) {
    const s = stats.get(t)!;
    const min = values[names.min].data[0];
    const max = values[names.max].data[0];
    const nan = Number.isNaN(values[names.nan].data[0]) && Number.isFinite(min) && Number.isFinite(max);
    // NaN compares false both ways; one in the data makes the range meaningless, so the range says so.
    if (nan || min !== min || max !== max || s.min !== s.min) {
      s.min = NaN;
      s.max = NaN;
    } else {
      if (min < s.min) s.min = min;
      if (max > s.max) s.max = max;
    }
  }
}

/** Images [start, end) through `session`, fetching `fetches`; `whole` may name the input, which is the pixels. */
async function runImages(
  c: Collection,
  session: Session,
  fetches: readonly string[],
  whole: readonly string[],
  start: number,
  end: number,
): Promise<Record<string, FloatTensor>> {
  const batch = sliceBatch(c.images, start, end);
  const pixels: FloatTensor = { data: batch.data, dims: batch.dims };
  const fetched = fetches.filter((t) => t !== c.inputName);
  const values = fetched.length ? await session.run({ [c.inputName]: pixels }, fetched) : {};
  for (const t of whole) if (t === c.inputName) values[t] = pixels;
  return values;
}

/** Every image through the probe: ranges reduced in onnxruntime, and the tensors of means and percentiles whole. */
async function collectRanges(c: Collection, batches: readonly [number, number][]): Promise<void> {
  const tensors = [...new Set(c.requests.map((r) => r.tensor))];
  const perBatchWhole = [
    ...new Set(c.requests.filter((r) => r.percentile || r.meanAxis !== undefined).map((r) => r.tensor)),
  ];
  // The percentile observer takes quantiles of a whole batch: its tensors come a batch at a time.
  const percentile = c.requests.some((r) => r.percentile);
  // Every requested tensor is an output too: the first run fetches them whole to learn their size per image.
  const { probe, reduced } = probeGraph(c.graph, tensors, tensors);
  const reducedNames = [...reduced.values()].flatMap((r) => [r.min, r.max, r.nan]);
  const session = await c.runner.createSession(probe.toBytes());
  c.progress.start('calibration', c.images.dims[0]);
  try {
    for (const [batchStart, batchEnd] of batches) {
      const sized = await forChunks(
        batchStart,
        batchEnd,
        c.batchSize,
        percentile ? Infinity : c.outputBudget,
        (start, end, measure) =>
          runImages(
            c,
            session,
            [...reducedNames, ...(measure ? tensors : perBatchWhole)],
            measure ? tensors : perBatchWhole,
            start,
            end,
          ),
        (values, end) => {
          foldRanges(c.stats, reduced, values);
          for (const r of c.requests) {
            if (r.meanAxis !== undefined) accumulateMean(c.stats.get(r.tensor)!, values[r.tensor], r.meanAxis);
            if (r.percentile)
              (c.stats.get(r.tensor)!.percentile ??= new PercentileTracker()).update(values[r.tensor].data);
          }
          c.progress.update(end);
        },
        percentile ? c.batchSize : 1,
        c.chunks.chunk ? c.chunks.bytesPerImage.ranges : undefined,
      );
      c.chunks.chunk = sized.chunk;
      c.chunks.bytesPerImage.ranges ||= sized.bytesPerImage;
    }
  } finally {
    c.progress.end();
    await session.release();
  }
}

/** The sample batch [start, end) again, its tensors whole, through the sample statistics of each request. */
async function collectSample(c: Collection, start: number, end: number, sampleThreads?: number): Promise<void> {
  // Tensors without a finite range get no sample statistic (calibrate says why).
  const sampling = c.requests.filter(
    (r) => r.sample && Number.isFinite(c.stats.get(r.tensor)!.min) && Number.isFinite(c.stats.get(r.tensor)!.max),
  );
  if (!sampling.length) return;
  const fetched = [...new Set(sampling.map((r) => r.tensor))];
  const sampleGraph = c.graph.clone();
  for (const t of fetched)
    if (t !== c.inputName && !sampleGraph.isGraphOutput(t)) sampleGraph.outputs.push(floatValueInfo(t));
  const session = await c.runner.createSession(sampleGraph.toBytes());
  const statistics = new SampleStatistics(
    sampling.map((r) => ({
      tensor: r.tensor,
      specs: r.sample!,
      min: c.stats.get(r.tensor)!.min,
      max: c.stats.get(r.tensor)!.max,
    })),
    sampleThreads,
  );
  c.progress.start('calibration: sample batch', end - start);
  try {
    const sized = await forChunks(
      start,
      end,
      c.batchSize,
      c.outputBudget,
      (from, to) => runImages(c, session, fetched, fetched, from, to),
      async (values, to) => {
        await statistics.add(values);
        c.progress.update(to - start);
      },
    );
    for (const [t, params] of await statistics.params()) c.stats.get(t)!.sample = params;
    c.chunks.sampleChunk = sized.chunk;
    c.chunks.bytesPerImage.sample = sized.bytesPerImage;
  } finally {
    c.progress.end();
    await statistics.close();
    await session.release();
  }
}

/**
 * Runs the float model over `images` and returns statistics of each requested tensor. Ranges are reduced in
 * onnxruntime over every image; tensors fetched whole (means, percentiles, then the sample batch for OMSE and
 * PTF once the ranges are known) come in chunks of images that stay within `memoryBudget` bytes beside the images.
 * The sample statistics run on `sampleThreads` worker threads (default: one per core).
 */
export async function collectStats(
  runner: Runner,
  graph: Graph,
  inputName: string,
  images: ImageBatch,
  requests: readonly StatsRequest[],
  batchSize: number,
  progress: Progress = silentProgress,
  memoryBudget = DEFAULT_MEMORY_BUDGET,
  report?: (r: CollectReport) => void,
  sampleThreads?: number,
): Promise<Map<string, TensorStats>> {
  const stats = new Map<string, TensorStats>(requests.map((r) => [r.tensor, { min: Infinity, max: -Infinity }]));
  const batches = [...batchRanges(images.dims[0], batchSize)];
  const [sampleStart, sampleEnd] = batches[batches.length - 1] ?? [0, 0];
  const outputBudget = budgetBeside(memoryBudget, images.data.byteLength);
  const chunks: CollectReport = { chunk: 0, sampleChunk: 0, bytesPerImage: { ranges: 0, sample: 0 } };
  const collection = { runner, graph, inputName, images, requests, batchSize, progress, outputBudget, stats, chunks };
  await collectRanges(collection, batches);
  await collectSample(collection, sampleStart, sampleEnd, sampleThreads);
  report?.(chunks);
  return stats;
}
