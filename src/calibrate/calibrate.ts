// Calibration: statistics in, a plain table of quantizer parameters out; the quantizer only reads this table.
import { intAttribute, type Graph } from '../onnx/graph.js';
import type { Runner } from '../runtime/runner.js';
import type { ImageBatch } from '../data/imagefolder.js';
import type { QuantPoint } from '../quant/points.js';
import { channelStats, type QuantParams } from '../quant/scheme.js';
import { collectStats, type CollectReport, type StatsRequest } from './collect.js';
import {
  OBSERVER_REGISTRY,
  PTF_FIT_STEPS,
  blockedWeightParams,
  minmaxParams,
  sampleStatistic,
  weightParams,
  type Observer,
  type SampleSpec,
} from './observers.js';
import { blockable } from '../quant/blocks.js';
import { silentProgress, type Progress } from '../progress.js';
import { DataError, GraphError } from '../errors.js';

export interface CalibrationOptions {
  wBits: number;
  aBits: number;
  observer: Observer;
  ptf: boolean;
  /** Log2 quantizer (4-bit) for softmax outputs. */
  lis: boolean;
  biasCorrection: boolean;
  batchSize: number;
  /** Quantize MatMul weights in blocks of this many input rows per output channel (0 or absent: per channel). */
  weightBlock?: number;
  /** Bytes of tensors calibration may hold beside the images (src/memory.ts); chunk sizes follow from it. */
  memoryBudget?: number;
  /** The Evol-Q code's data-free correction: weights carry their float per-channel mean and std. */
  weightCorrection?: boolean;
  /** FQ-ViT's integer LayerNorm where the LayerNorm's output point is known (QuantPoint.output). */
  integerLayerNorm?: boolean;
  /**
   * For `--start fitted`: also refit each LayerNorm input's PTF to what the LayerNorm reads, and give each
   * activation only MatMuls read a PTF fitted to its squared error (PtfFit).
   */
  ptfRefit?: boolean;
  /** Worker threads for the sample batch's statistics (default: one per core); the table is the same for any. */
  sampleThreads?: number;
}

export interface CalibrationTable {
  params: Record<string, QuantParams>;
  /** The observed float range of each activation-like point. */
  ranges: Record<string, { min: number; max: number }>;
  /** With `ptfRefit`: per LayerNorm-input point and MatMul-input point, the refitted PTF (PtfFit). */
  refittedPtf?: Record<string, QuantParams>;
  /** Bias correction: per weight point, the mean of its layer's input per input channel. */
  inputMeans?: Record<string, Float32Array>;
  /** Images per onnxruntime run and bytes fetched per image (for report.json). */
  chunks?: CollectReport;
}

export const LIS_BITS = 4;

/** The data input of a weight point's node and that input's channel axis. */
function weightInput(graph: Graph, point: QuantPoint): { tensor: string; axis: number } | undefined {
  const node = graph.nodes.find((n) => n.name === point.node);
  if (!node) return undefined;
  const tensor = node.inputs.find((t, i) => i < 2 && t !== point.tensor);
  if (!tensor) return undefined;
  if (node.opType === 'Conv') return { tensor, axis: 1 };
  if (point.channelAxis !== point.dims!.length - 1 && node.opType === 'MatMul') return undefined; // constant left operand
  if (node.opType === 'Gemm' && intAttribute(node, 'transA', 0)) return { tensor, axis: 0 }; // Aᵀ: A's channels on its first axis
  return { tensor, axis: -1 };
}

/**
 * The activation points `ptfRefit` also fits a PTF to: those only MatMuls read, where a factor per channel of the
 * last axis is a per-channel scale of a MatMul operand (none with the integer LayerNorm, which rounds to one
 * output scale).
 */
function refittedActivations(graph: Graph, points: readonly QuantPoint[], options: CalibrationOptions): Set<string> {
  if (!options.ptfRefit || options.integerLayerNorm) return new Set();
  const opTypes = new Map(graph.nodes.map((n) => [n.name, n.opType]));
  const readByMatMuls = (p: QuantPoint) =>
    p.consumers.length > 0 && p.consumers.every((name) => opTypes.get(name) === 'MatMul');
  return new Set(points.filter((p) => p.kind === 'activation' && readByMatMuls(p)).map((p) => p.id));
}

export async function calibrate(
  runner: Runner,
  graph: Graph,
  inputName: string,
  points: readonly QuantPoint[],
  images: ImageBatch,
  options: CalibrationOptions,
  progress: Progress = silentProgress,
): Promise<CalibrationTable> {
  const params: Record<string, QuantParams> = {};
  const ranges: CalibrationTable['ranges'] = {};
  const requests = new Map<string, StatsRequest>();
  const request = (tensor: string, extra: Partial<StatsRequest>) =>
    requests.set(tensor, { ...requests.get(tensor), tensor, ...extra });
  const meanInputs = new Map<string, { tensor: string; axis: number }>();
  const observer = OBSERVER_REGISTRY[options.observer];
  const needs: { sample?: boolean; percentile?: boolean } = observer.needs;
  const observerSample: SampleSpec['kind'] | undefined = 'sample' in observer ? observer.sample : undefined;
  const refitted = refittedActivations(graph, points, options);

  for (const point of points) {
    if (point.kind === 'weight') {
      const value = graph.constantValue(point.tensor)!;
      if (!value.values.every(Number.isFinite))
        throw new GraphError(
          `weight '${point.tensor}' of node '${point.node}' holds values that are not finite (NaN or infinity)`,
          point.node,
        );
      params[point.id] =
        options.weightBlock && blockable(graph, point, options.weightBlock)
          ? blockedWeightParams(value.values, value.dims, options.weightBlock, options.wBits)
          : weightParams(value.values, value.dims, point.channelAxis!, options.wBits);
      if (options.weightCorrection)
        params[point.id] = {
          ...params[point.id],
          correction: channelStats(value.values, value.dims, point.channelAxis!),
        } as QuantParams;
      const input = options.biasCorrection ? weightInput(graph, point) : undefined;
      if (input) {
        meanInputs.set(point.id, input);
        request(input.tensor, { meanAxis: input.axis });
      }
    } else if (point.kind === 'softmax' && options.lis) {
      params[point.id] = { kind: 'log2', bits: LIS_BITS };
    } else if (graph.constantValue(point.tensor)) {
      // A constant activation (the position embedding): its statistics are its values, no forward needed.
      const { values, dims } = graph.constantValue(point.tensor)!;
      let min = Infinity;
      let max = -Infinity;
      for (const v of values) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      ranges[point.id] = { min, max };
      // Percentiles smoothed over batches mean nothing for a constant: min-max there.
      if (needs.percentile || !observerSample) {
        params[point.id] = minmaxParams(min, max, options.aBits);
      } else {
        const sample = sampleStatistic({ kind: observerSample, bits: options.aBits }, min, max);
        sample.add(values, dims[dims.length - 1]);
        params[point.id] = sample.params();
      }
    } else {
      const bits = options.aBits;
      const observed: SampleSpec[] = needs.sample && observerSample ? [{ kind: observerSample, bits }] : [];
      const sample: SampleSpec[] =
        point.kind === 'layernorm' && options.ptf
          ? // FQ-ViT's integer LayerNorm shifts by the factors: with it the refit keeps powers of two.
            [
              { kind: 'ptf', bits },
              ...(options.ptfRefit
                ? [{ kind: 'ptf-fit', bits, steps: options.integerLayerNorm ? 1 : PTF_FIT_STEPS } as const]
                : []),
            ]
          : // Last, after the observer's own: the refit is read from the end of the tensor's statistics.
            [
              ...observed,
              ...(refitted.has(point.id)
                ? [{ kind: 'ptf-fit', bits, steps: PTF_FIT_STEPS, rows: 'plain' } as const]
                : []),
            ];
      request(point.tensor, { sample: sample.length ? sample : undefined, percentile: needs.percentile || undefined });
    }
  }

  let chunks: CollectReport | undefined;
  const stats = await collectStats(
    runner,
    graph,
    inputName,
    images,
    [...requests.values()],
    options.batchSize,
    progress,
    options.memoryBudget,
    (r) => (chunks = r),
    options.sampleThreads,
  );
  let refittedPtf: CalibrationTable['refittedPtf'];
  for (const point of points) {
    if (params[point.id]) continue;
    const s = stats.get(point.tensor)!;
    if (!Number.isFinite(s.min) || !Number.isFinite(s.max)) {
      throw new DataError(
        `calibration: tensor '${point.tensor}' (${point.kind} point ${point.id}) has no finite range on the calibration images ` +
          `(min ${s.min}, max ${s.max}); check the model and its preprocessing (image_mean, image_std)`,
        point.tensor,
      );
    }
    ranges[point.id] = { min: s.min, max: s.max };
    if (point.kind === 'layernorm' && options.ptf) {
      // FQ-ViT's PTF, then its refit when asked; their α is in channelFactor.
      const [fqvit, refit] = (s.sample ?? []).map((p) => {
        const { alpha: _, ...uniform } = p as typeof p & { alpha?: number[] };
        return uniform;
      });
      params[point.id] = fqvit;
      if (refit) (refittedPtf ??= {})[point.id] = refit;
    } else {
      params[point.id] = observer.params(s, options.aBits);
      if (refitted.has(point.id)) (refittedPtf ??= {})[point.id] = s.sample![s.sample!.length - 1];
    }
  }

  if (options.integerLayerNorm) {
    for (const point of points) {
      const p = params[point.id];
      if (
        point.kind === 'layernorm' &&
        point.output &&
        p.kind === 'uniform' &&
        params[point.output]?.kind === 'uniform'
      )
        params[point.id] = { ...p, integerLayerNorm: true };
    }
  }

  let inputMeans: CalibrationTable['inputMeans'];
  if (options.biasCorrection) {
    inputMeans = {};
    for (const [id, input] of meanInputs) {
      const s = stats.get(input.tensor)!;
      inputMeans[id] = Float32Array.from(s.channelSum!, (sum) => sum / s.channelCount!);
    }
  }
  return { params, ranges, ...(refittedPtf ? { refittedPtf } : {}), inputMeans, chunks };
}
