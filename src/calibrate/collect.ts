// Streaming statistics of intermediate tensors: run the float model in chunks of images whose size follows from
// a memory budget. Ranges are reduced inside onnxruntime (ReduceMin/ReduceMax), so no tensor leaves it whole
// unless a statistic needs its values: the sample statistics (OMSE, PTF) of the last batch, channel means, and
// the percentile observer's per-batch quantiles.
import { makeAttribute, type Graph } from '../onnx/graph.js';
import { floatValueInfo } from '../onnx/proto.js';
import type { Runner, FloatTensor, Session } from '../runtime/runner.js';
import { batchRanges, sliceBatch, type ImageBatch } from '../data/imagefolder.js';
import { PercentileTracker, type SampleSpec } from './observers.js';
import { SampleStatistics } from './sample-statistics.js';
import type { UniformParams } from '../quant/scheme.js';
import { silentProgress, type Progress } from '../progress.js';
import { DEFAULT_MEMORY_BUDGET, budgetBeside, imagesWithin } from '../memory.js';

export interface TensorStats {
  min: number;
  max: number;
  percentile?: PercentileTracker;
  /**
   * The parameters each requested statistic of the sample batch chose (the last `batchSize` images; FQ-ViT
   * measures OMSE and PTF error on it), in the order of the request's `sample`.
   */
  sample?: UniformParams[];
  /** Per-channel sums and the count per channel, for channel means. */
  channelSum?: Float64Array;
  channelCount?: number;
}

export interface StatsRequest {
  tensor: string;
  percentile?: boolean;
  /** Statistics of the sample batch, made once the range over every image is known (a worker thread computes them). */
  sample?: readonly SampleSpec[];
  /** Channel axis for per-channel means (negative counts from the end). */
  meanAxis?: number;
}

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

/** The probe: the float model with each of `reduced`'s min, max and sum (NaN flag) as outputs, and `whole` as outputs. */
function probeGraph(graph: Graph, reducedTensors: readonly string[], whole: readonly string[]) {
  const probe = graph.clone();
  const reduced = new Map<string, { min: string; max: string; nan: string }>();
  const keepdims = makeAttribute('keepdims', 0);
  for (const t of reducedTensors) {
    const names = {
      min: probe.uniqueName(`${t}::calib_min`),
      max: probe.uniqueName(`${t}::calib_max`),
      nan: probe.uniqueName(`${t}::calib_sum`),
    };
    probe.addNode({
      name: names.min,
      opType: 'ReduceMin',
      domain: '',
      inputs: [t],
      outputs: [names.min],
      attributes: [keepdims],
    });
    probe.addNode({
      name: names.max,
      opType: 'ReduceMax',
      domain: '',
      inputs: [t],
      outputs: [names.max],
      attributes: [keepdims],
    });
    // onnxruntime's ReduceMin/ReduceMax skip a NaN unless it comes first; a sum is NaN wherever one is.
    probe.addNode({
      name: names.nan,
      opType: 'ReduceSum',
      domain: '',
      inputs: [t],
      outputs: [names.nan],
      attributes: [keepdims],
    });
    for (const name of Object.values(names)) probe.outputs.push(floatValueInfo(name));
    reduced.set(t, names);
  }
  for (const t of whole)
    if (!probe.inputs.some((i) => i.name === t) && !probe.isGraphOutput(t)) probe.outputs.push(floatValueInfo(t));
  return { probe, reduced };
}

/**
 * Images [start, end) in chunks: the first of `firstChunk` images (one where the size is still to be learnt),
 * the rest as many as `budget` bytes hold at twice the bytes per image of the first chunk's whole tensors
 * (onnxruntime's and JavaScript's copies). `run(…, true)` fetches what measures the size.
 */
async function forChunks(
  start: number,
  end: number,
  limit: number,
  budget: number,
  run: (start: number, end: number, measure: boolean) => Promise<Record<string, FloatTensor>>,
  use: (values: Record<string, FloatTensor>, end: number) => void | Promise<void>,
  firstChunk = 1,
  known?: number,
): Promise<{ chunk: number; bytesPerImage: number }> {
  const fit = (bytes: number) => imagesWithin(budget, bytes, limit);
  let chunk = known === undefined ? Math.min(firstChunk, limit) : fit(known);
  let sized = known !== undefined;
  let bytesPerImage = known ?? 0;
  for (let from = start; from < end;) {
    const to = Math.min(end, from + chunk);
    const values = await run(from, to, !sized);
    if (!sized) {
      // Tensors fetched whole; the reduced ranges are scalars and do not count.
      bytesPerImage =
        Object.values(values).reduce((n, t) => n + (t.data.length > 1 ? t.data.byteLength : 0), 0) / (to - from);
      chunk = fit(bytesPerImage);
      sized = true;
    }
    await use(values, to);
    from = to;
  }
  return { chunk, bytesPerImage };
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
  const tensors = [...new Set(requests.map((r) => r.tensor))];
  const perBatchWhole = [
    ...new Set(requests.filter((r) => r.percentile || r.meanAxis !== undefined).map((r) => r.tensor)),
  ];
  const stats = new Map<string, TensorStats>(requests.map((r) => [r.tensor, { min: Infinity, max: -Infinity }]));
  const n = images.dims[0];
  const batches = [...batchRanges(n, batchSize)];
  const [sampleStart, sampleEnd] = batches[batches.length - 1] ?? [0, 0];
  const outputBudget = budgetBeside(memoryBudget, images.data.byteLength);
  // The percentile observer takes quantiles of a whole batch: its tensors come a batch at a time.
  const percentile = requests.some((r) => r.percentile);
  const chunks: CollectReport = { chunk: 0, sampleChunk: 0, bytesPerImage: { ranges: 0, sample: 0 } };

  const runChunk = async (
    session: Session,
    fetches: readonly string[],
    whole: readonly string[],
    start: number,
    end: number,
  ) => {
    const batch = sliceBatch(images, start, end);
    const pixels: FloatTensor = { data: batch.data, dims: batch.dims };
    const fetched = fetches.filter((t) => t !== inputName);
    const values = fetched.length ? await session.run({ [inputName]: pixels }, fetched) : {};
    for (const t of whole) if (t === inputName) values[t] = pixels;
    return values;
  };

  // Every requested tensor is an output too: the first run fetches them whole to learn their size per image.
  const { probe, reduced } = probeGraph(graph, tensors, tensors);
  const reducedNames = [...reduced.values()].flatMap((r) => [r.min, r.max, r.nan]);
  let session = await runner.createSession(probe.toBytes());
  progress.start('calibration', n);
  try {
    for (const [batchStart, batchEnd] of batches) {
      const sized = await forChunks(
        batchStart,
        batchEnd,
        batchSize,
        percentile ? Infinity : outputBudget,
        (start, end, measure) =>
          runChunk(
            session,
            [...reducedNames, ...(measure ? tensors : perBatchWhole)],
            measure ? tensors : perBatchWhole,
            start,
            end,
          ),
        (values, end) => {
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
          for (const r of requests) {
            if (r.meanAxis !== undefined) accumulateMean(stats.get(r.tensor)!, values[r.tensor], r.meanAxis);
            if (r.percentile)
              (stats.get(r.tensor)!.percentile ??= new PercentileTracker()).update(values[r.tensor].data);
          }
          progress.update(end);
        },
        percentile ? batchSize : 1,
        chunks.chunk ? chunks.bytesPerImage.ranges : undefined,
      );
      chunks.chunk = sized.chunk;
      chunks.bytesPerImage.ranges ||= sized.bytesPerImage;
    }
  } finally {
    progress.end();
    await session.release();
  }

  // Tensors without a finite range get no sample statistic (calibrate says why).
  const sampling = requests.filter(
    (r) => r.sample && Number.isFinite(stats.get(r.tensor)!.min) && Number.isFinite(stats.get(r.tensor)!.max),
  );
  if (sampling.length) {
    // The sample batch again, its tensors whole, now that the ranges over every image are known.
    const fetched = [...new Set(sampling.map((r) => r.tensor))];
    const sampleGraph = graph.clone();
    for (const t of fetched)
      if (t !== inputName && !sampleGraph.isGraphOutput(t)) sampleGraph.outputs.push(floatValueInfo(t));
    session = await runner.createSession(sampleGraph.toBytes());
    const statistics = new SampleStatistics(
      sampling.map((r) => ({
        tensor: r.tensor,
        specs: r.sample!,
        min: stats.get(r.tensor)!.min,
        max: stats.get(r.tensor)!.max,
      })),
      sampleThreads,
    );
    progress.start('calibration: sample batch', sampleEnd - sampleStart);
    try {
      const sized = await forChunks(
        sampleStart,
        sampleEnd,
        batchSize,
        outputBudget,
        (start, end) => runChunk(session, fetched, fetched, start, end),
        async (values, end) => {
          await statistics.add(values);
          progress.update(end - sampleStart);
        },
      );
      for (const [t, params] of await statistics.params()) stats.get(t)!.sample = params;
      chunks.sampleChunk = sized.chunk;
      chunks.bytesPerImage.sample = sized.bytesPerImage;
    } finally {
      progress.end();
      await statistics.close();
      await session.release();
    }
  }
  report?.(chunks);
  return stats;
}
