// Calibration: statistics in, a plain table of quantizer parameters out; the quantizer only reads this table.
import type { Runner } from '../runtime/runner.js';
import type { Graph } from '../onnx/graph.js';
import type { ImageBatch } from '../data/imagefolder.js';
import type { QuantPoint } from '../quant/points.js';
import type { QuantParams } from '../quant/scheme.js';
import { silentProgress, type Progress } from '../progress.js';
import { DataError } from '../errors.js';
import { collectStats, type CollectReport } from './collect.js';
import type { TensorStats } from './tensor-stats.js';
import type { CalibrationOptions, CalibrationTable } from './table.js';
import { observerUse, planPoints, refittedActivations, type ObserverUse, type Plan } from './plan.js';

/** The activation points' parameters from their statistics; returns the refitted PTFs (with `ptfRefit`). */
function activationParams(
  points: readonly QuantPoint[],
  stats: Map<string, TensorStats>,
  plan: Plan,
  options: CalibrationOptions,
  use: ObserverUse,
  refitted: Set<string>,
): CalibrationTable['refittedPtf'] {
  let refittedPtf: CalibrationTable['refittedPtf'];
  for (const point of points) {
    if (plan.params[point.id]) continue;
    const s = stats.get(point.tensor)!;
    if (!Number.isFinite(s.min) || !Number.isFinite(s.max)) {
      throw new DataError(
        `calibration: tensor '${point.tensor}' (${point.kind} point ${point.id}) has no finite range on the calibration images ` +
          `(min ${s.min}, max ${s.max}); check the model and its preprocessing (image_mean, image_std)`,
        point.tensor,
      );
    }
    plan.ranges[point.id] = { min: s.min, max: s.max };
    if (point.kind === 'layernorm' && options.ptf) {
      // FQ-ViT's PTF, then its refit when asked; their α is in channelFactor.
      const [fqvit, refit] = (s.sample ?? []).map((p) => {
        const { alpha: _, ...uniform } = p as typeof p & { alpha?: number[] };
        return uniform;
      });
      plan.params[point.id] = fqvit;
      if (refit) (refittedPtf ??= {})[point.id] = refit;
    } else {
      plan.params[point.id] = use.observer.params(s, options.aBits);
      if (refitted.has(point.id)) (refittedPtf ??= {})[point.id] = s.sample![s.sample!.length - 1];
    }
  }
  return refittedPtf;
}

/** With the integer LayerNorm: marks each LayerNorm input whose output point is known and both are uniform. */
function markIntegerLayerNorm(points: readonly QuantPoint[], params: Record<string, QuantParams>): void {
  for (const point of points) {
    const p = params[point.id];
    if (point.kind === 'layernorm' && point.output && p.kind === 'uniform' && params[point.output]?.kind === 'uniform')
      params[point.id] = { ...p, integerLayerNorm: true };
  }
}

/** Bias correction: per weight point, the mean of its input per input channel. */
function inputMeans(plan: Plan, stats: Map<string, TensorStats>): Record<string, Float32Array> {
  const means: Record<string, Float32Array> = {};
  for (const [id, input] of plan.meanInputs) {
    const s = stats.get(input.tensor)!;
    means[id] = Float32Array.from(s.channelSum!, (sum) => sum / s.channelCount!);
  }
  return means;
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
  const use = observerUse(options);
  const refitted = refittedActivations(graph, points, options);
  const plan = planPoints(graph, points, options, use, refitted);
  let chunks: CollectReport | undefined;
  const stats = await collectStats(
    runner,
    graph,
    inputName,
    images,
    [...plan.requests.values()],
    options.batchSize,
    progress,
    options.memoryBudget,
    (r) => (chunks = r),
    options.sampleThreads,
  );
  const refittedPtf = activationParams(points, stats, plan, options, use, refitted);
  if (options.integerLayerNorm) markIntegerLayerNorm(points, plan.params);
  const { params, ranges } = plan;
  const means = options.biasCorrection ? inputMeans(plan, stats) : undefined;
  return { params, ranges, ...(refittedPtf ? { refittedPtf } : {}), inputMeans: means, chunks };
}
