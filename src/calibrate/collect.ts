// Streaming statistics of intermediate tensors: run the float model with them as extra outputs, batch by batch.
import type { Graph } from '../onnx/graph.js';
import { floatValueInfo } from '../onnx/proto.js';
import type { Runner, FloatTensor } from '../runtime/runner.js';
import { batchRanges, sliceBatch, type ImageBatch } from '../data/imagefolder.js';
import { PercentileTracker } from './observers.js';
import { silentProgress, type Progress } from '../progress.js';

export interface TensorStats {
  min: number;
  max: number;
  percentile?: PercentileTracker;
  /** The last batch's values (FQ-ViT measures OMSE and PTF error on it). */
  last?: FloatTensor;
  /** Per-channel sums and the count per channel, for channel means. */
  channelSum?: Float64Array;
  channelCount?: number;
}

export interface StatsRequest {
  tensor: string;
  percentile?: boolean;
  keepLast?: boolean;
  /** Channel axis for per-channel means (negative counts from the end). */
  meanAxis?: number;
}

function accumulate(stats: TensorStats, value: FloatTensor, request: StatsRequest): void {
  const data = value.data;
  let min = stats.min;
  let max = stats.max;
  let nan = false;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < min) min = v;
    if (v > max) max = v;
    nan ||= v !== v;
  }
  // NaN compares false both ways; one in the data makes the range meaningless, so the range says so.
  stats.min = nan ? NaN : min;
  stats.max = nan ? NaN : max;
  if (request.percentile) (stats.percentile ??= new PercentileTracker()).update(data);
  if (request.keepLast) stats.last = value; // each run returns fresh buffers, so keeping a reference is safe
  if (request.meanAxis !== undefined) {
    const axis = request.meanAxis < 0 ? value.dims.length + request.meanAxis : request.meanAxis;
    const channels = value.dims[axis];
    let inner = 1;
    for (let d = axis + 1; d < value.dims.length; d++) inner *= value.dims[d];
    const sums = (stats.channelSum ??= new Float64Array(channels));
    for (let i = 0; i < data.length; i++) sums[Math.floor(i / inner) % channels] += data[i];
    stats.channelCount = (stats.channelCount ?? 0) + data.length / channels;
  }
}

/** Runs the float model over `images` and returns statistics of each requested tensor. */
export async function collectStats(
  runner: Runner, graph: Graph, inputName: string, images: ImageBatch, requests: readonly StatsRequest[],
  batchSize: number, progress: Progress = silentProgress,
): Promise<Map<string, TensorStats>> {
  const probe = graph.clone();
  const inputs = new Set(probe.inputs.map((i) => i.name));
  const fetched = [...new Set(requests.map((r) => r.tensor))].filter((t) => !inputs.has(t));
  for (const t of fetched) if (!probe.isGraphOutput(t)) probe.outputs.push(floatValueInfo(t));
  const session = await runner.createSession(probe.toBytes());
  const stats = new Map<string, TensorStats>(requests.map((r) => [r.tensor, { min: Infinity, max: -Infinity }]));
  const n = images.dims[0];
  progress.start('calibration', n);
  try {
    for (const [start, end] of batchRanges(n, batchSize)) {
      const batch = sliceBatch(images, start, end);
      const pixels: FloatTensor = { data: batch.data, dims: batch.dims };
      const values = fetched.length ? await session.run({ [inputName]: pixels }, fetched) : {};
      values[inputName] = pixels;
      for (const request of requests) accumulate(stats.get(request.tensor)!, values[request.tensor], request);
      progress.update(end);
    }
  } finally {
    progress.end();
    await session.release();
  }
  return stats;
}
