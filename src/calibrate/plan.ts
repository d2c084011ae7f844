// Calibration's first pass over the quant points: the parameters that need no images (weights, log2 softmax
// outputs, constants), and the statistics to collect for the rest.
import { intAttribute, type ConstantValue, type Graph } from '../onnx/graph.js';
import type { QuantPoint } from '../quant/points.js';
import { channelStats, type QuantParams } from '../quant/scheme.js';
import { blockable } from '../quant/blocks.js';
import { GraphError } from '../errors.js';
import type { StatsRequest } from './tensor-stats.js';
import type { CalibrationOptions, CalibrationTable } from './table.js';
import { OBSERVER_REGISTRY, type Observer } from './observers/registry.js';
import { minmaxParams } from './observers/minmax.js';
import { blockedWeightParams, weightParams } from './observers/weights.js';
import { PTF_FIT_STEPS } from './observers/ptf-fit.js';
import { sampleStatistic } from './observers/sample-registry.js';
import type { SampleSpec } from './observers/sample-statistic.js';
import { nodeNamed } from '../onnx/lookup.js';

/** Softmax outputs' log2 quantizer's bits (with `lis`). */
export const LIS_BITS = 4;

/** The data input of a weight point's node and that input's channel axis. */
function weightInput(graph: Graph, point: QuantPoint): { tensor: string; axis: number } | undefined {
  const node = nodeNamed(graph, point.node);
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
export function refittedActivations(
  graph: Graph,
  points: readonly QuantPoint[],
  options: CalibrationOptions,
): Set<string> {
  if (!options.ptfRefit || options.integerLayerNorm) return new Set();
  const opTypes = new Map(graph.nodes.map((n) => [n.name, n.opType]));
  const readByMatMuls = (p: QuantPoint) =>
    p.consumers.length > 0 && p.consumers.every((name) => opTypes.get(name) === 'MatMul');
  return new Set(points.filter((p) => p.kind === 'activation' && readByMatMuls(p)).map((p) => p.id));
}

/** The chosen activation observer: what it needs collected, and the statistic of the sample batch it reads. */
export interface ObserverUse {
  observer: (typeof OBSERVER_REGISTRY)[Observer];
  needs: { sample?: boolean; percentile?: boolean };
  sample: SampleSpec['kind'] | undefined;
}

/** The activation observer `options` names, and what it needs. */
export function observerUse(options: CalibrationOptions): ObserverUse {
  const observer = OBSERVER_REGISTRY[options.observer];
  return { observer, needs: observer.needs, sample: 'sample' in observer ? observer.sample : undefined };
}

/** What calibration knows before any forward: the parameters that need no images, and what to collect. */
export interface Plan {
  params: Record<string, QuantParams>;
  ranges: CalibrationTable['ranges'];
  requests: Map<string, StatsRequest>;
  /** Bias correction: per weight point, the data input whose channel means it needs. */
  meanInputs: Map<string, { tensor: string; axis: number }>;
}

function request(plan: Plan, tensor: string, extra: Partial<StatsRequest>): void {
  plan.requests.set(tensor, { ...plan.requests.get(tensor), tensor, ...extra });
}

/** A weight's parameters (its values are its statistics), and the mean of its input that bias correction needs. */
function planWeight(graph: Graph, point: QuantPoint, options: CalibrationOptions, plan: Plan): void {
  const value = graph.constantValue(point.tensor)!;
  if (!value.values.every(Number.isFinite))
    throw new GraphError(
      `weight '${point.tensor}' of node '${point.node}' holds values that are not finite (NaN or infinity)`,
      point.node,
    );
  plan.params[point.id] =
    options.weightBlock && blockable(graph, point, options.weightBlock)
      ? blockedWeightParams(value.values, value.dims, options.weightBlock, options.wBits)
      : weightParams(value.values, value.dims, point.channelAxis!, options.wBits);
  if (options.weightCorrection)
    plan.params[point.id] = {
      ...plan.params[point.id],
      correction: channelStats(value.values, value.dims, point.channelAxis!),
    } as QuantParams;
  const input = options.biasCorrection ? weightInput(graph, point) : undefined;
  if (input) {
    plan.meanInputs.set(point.id, input);
    request(plan, input.tensor, { meanAxis: input.axis });
  }
}

/** A constant activation (the position embedding): its statistics are its values, no forward needed. */
function planConstant(
  point: QuantPoint,
  { values, dims }: ConstantValue,
  bits: number,
  use: ObserverUse,
  plan: Plan,
): void {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  plan.ranges[point.id] = { min, max };
  // Percentiles smoothed over batches mean nothing for a constant: min-max there.
  if (use.needs.percentile || !use.sample) {
    plan.params[point.id] = minmaxParams(min, max, bits);
  } else {
    const sample = sampleStatistic({ kind: use.sample, bits }, min, max);
    sample.add(values, dims[dims.length - 1]);
    plan.params[point.id] = sample.params();
  }
}

/** The statistics of the sample batch an activation point needs: the observer's, PTF's, and the refits. */
function sampleSpecs(
  point: QuantPoint,
  options: CalibrationOptions,
  use: ObserverUse,
  refitted: boolean,
): SampleSpec[] {
  const bits = options.aBits;
  const observed: SampleSpec[] = use.needs.sample && use.sample ? [{ kind: use.sample, bits }] : [];
  return point.kind === 'layernorm' && options.ptf
    ? // FQ-ViT's integer LayerNorm shifts by the factors: with it the refit keeps powers of two.
      [
        { kind: 'ptf', bits },
        ...(options.ptfRefit
          ? [{ kind: 'ptf-fit', bits, steps: options.integerLayerNorm ? 1 : PTF_FIT_STEPS } as const]
          : []),
      ]
    : // Last, after the observer's own: the refit is read from the end of the tensor's statistics.
      [...observed, ...(refitted ? [{ kind: 'ptf-fit', bits, steps: PTF_FIT_STEPS, rows: 'plain' } as const] : [])];
}

/** An activation point: a constant's parameters now, else what to collect of its tensor. */
function planActivation(
  graph: Graph,
  point: QuantPoint,
  options: CalibrationOptions,
  use: ObserverUse,
  refitted: boolean,
  plan: Plan,
): void {
  const constant = graph.constantValue(point.tensor);
  if (constant) return planConstant(point, constant, options.aBits, use, plan);
  const sample = sampleSpecs(point, options, use, refitted);
  request(plan, point.tensor, {
    sample: sample.length ? sample : undefined,
    percentile: use.needs.percentile || undefined,
  });
}

/** Walks the points once: parameters of weights, log2 softmax outputs and constants; requests for the rest. */
export function planPoints(
  graph: Graph,
  points: readonly QuantPoint[],
  options: CalibrationOptions,
  use: ObserverUse,
  refitted: Set<string>,
): Plan {
  const plan: Plan = { params: {}, ranges: {}, requests: new Map(), meanInputs: new Map() };
  for (const point of points) {
    if (point.kind === 'weight') planWeight(graph, point, options, plan);
    else if (point.kind === 'softmax' && options.lis) plan.params[point.id] = { kind: 'log2', bits: LIS_BITS };
    else planActivation(graph, point, options, use, refitted.has(point.id), plan);
  }
  return plan;
}
