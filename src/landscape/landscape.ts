// The loss landscape of one unit's quantization scales: every loss and top-1 along a random direction
// (s·(1 + t·d), t in ±radius) and on a 2-D grid of two directions, each point through the unit's suffix only.
import type { Fitness, UnitInputs } from '../fitness/fitness.js';
import type { ScoredImages } from '../fitness/batches.js';
import type { QuantParams } from '../quant/scheme.js';
import type { SearchUnit } from '../quant/units.js';
import { batchLoss, infonce, kl, mse, type LossFunction } from '../fitness/losses.js';
import { topkHits } from '../evaluate/metrics.js';
import type { Rng } from '../rng.js';
import { silentProgress, type Progress } from '../progress.js';
import { roughness, type Roughness } from './roughness.js';

export const LANDSCAPE_LOSSES = ['infonce', 'mse', 'kl'] as const;
export type LandscapeLoss = (typeof LANDSCAPE_LOSSES)[number];
/** Everything measured at a point: the three losses and top-1. */
export const LANDSCAPE_MEASURES = [...LANDSCAPE_LOSSES, 'top1'] as const;
export type LandscapeMeasure = (typeof LANDSCAPE_MEASURES)[number];

export interface LandscapePoint {
  /** Step along the first direction (relative: 0.05 = every scale moved by 5% of itself in its direction). */
  a: number;
  /** Step along the second direction (grid only; 0 on the line). */
  b: number;
  infonce: number;
  mse: number;
  kl: number;
  /** Top-1 on the evaluation images, 0..1. */
  top1: number;
}

export interface LandscapeSettings {
  points: number;
  radius: number;
  /** Grid side (0: no grid). */
  grid: number;
  temperature: number;
}

export interface Landscape {
  line: LandscapePoint[];
  grid: { size: number; values: LandscapePoint[] } | null;
  roughness: Record<LandscapeMeasure, Roughness>;
  /** Number of scales moved (all channels of all the unit's points). */
  dimensions: number;
}

export interface LandscapeInputs {
  fitness: Fitness;
  unit: SearchUnit;
  unitIndex: number;
  params: Readonly<Record<string, QuantParams>>;
  calibration: { scored: ScoredImages; unitInputs: UnitInputs };
  evaluation: { scored: ScoredImages; unitInputs: UnitInputs; labels: Int32Array };
}

export const steps = (n: number, radius: number): number[] =>
  n === 1 ? [0] : Array.from({ length: n }, (_, i) => -radius + (2 * radius * i) / (n - 1));

/** A random ±1 direction per scale (Rademacher): every channel moves by the same relative amount. */
function direction(scales: readonly Float32Array[], rng: Rng): Float32Array[] {
  return scales.map((s) => Float32Array.from(s, () => (rng.next() < 0.5 ? -1 : 1)));
}

export async function measureLandscape(
  inputs: LandscapeInputs,
  settings: LandscapeSettings,
  rng: Rng,
  progress: Progress = silentProgress,
): Promise<Landscape> {
  const { fitness, unit, unitIndex, params, calibration, evaluation } = inputs;
  const ids = unit.points.filter((id) => params[id]?.kind === 'uniform');
  const base = ids.map((id) => (params[id] as { scale: Float32Array }).scale);
  const d1 = direction(base, rng);
  const d2 = direction(base, rng);
  const losses: Record<LandscapeLoss, LossFunction> = { infonce: infonce(settings.temperature), mse, kl };
  const onCalibration = await fitness.unitOutputs(unitIndex, ids, params, calibration.scored, calibration.unitInputs);
  const onEvaluation = await fitness.unitOutputs(unitIndex, ids, params, evaluation.scored, evaluation.unitInputs);
  const line = steps(settings.points, settings.radius).map((a) => ({ a, b: 0 }));
  const grid =
    settings.grid > 0
      ? steps(settings.grid, settings.radius).flatMap((b) =>
          steps(settings.grid, settings.radius).map((a) => ({ a, b })),
        )
      : [];
  const measure = async ({ a, b }: { a: number; b: number }): Promise<LandscapePoint> => {
    const scales = base.map((s, i) => s.map((v, c) => v * (1 + a * d1[i][c] + b * d2[i][c])));
    const q = await onCalibration.logits(scales);
    const value = (loss: LossFunction) =>
      q.reduce((sum, t, k) => sum + batchLoss(loss, t, calibration.scored.reference[k]), 0) / q.length;
    const evaluated = await onEvaluation.logits(scales);
    let hits = 0;
    for (const [k, [start]] of evaluation.scored.ranges.entries()) {
      const t = evaluated[k];
      hits += topkHits(t.data, t.dims[t.dims.length - 1], evaluation.labels.subarray(start, start + t.dims[0])).top1;
    }
    return {
      a,
      b,
      infonce: value(losses.infonce),
      mse: value(losses.mse),
      kl: value(losses.kl),
      top1: hits / evaluation.labels.length,
    };
  };
  const measured: LandscapePoint[] = [];
  try {
    progress.start('landscape', line.length + grid.length);
    for (const point of [...line, ...grid]) {
      measured.push(await measure(point));
      progress.update(measured.length);
    }
    progress.end();
  } finally {
    await onCalibration.release();
    await onEvaluation.release();
  }
  const lineValues = measured.slice(0, line.length);
  const gridValues = measured.slice(line.length);
  const of = (key: LandscapeMeasure) => {
    const pick = (p: LandscapePoint) => lowerIsBetter(p, key);
    return roughness(
      lineValues.map(pick),
      gridValues.length ? { values: gridValues.map(pick), size: settings.grid } : undefined,
    );
  };
  return {
    line: lineValues,
    grid: gridValues.length ? { size: settings.grid, values: gridValues } : null,
    roughness: { infonce: of('infonce'), mse: of('mse'), kl: of('kl'), top1: of('top1') },
    dimensions: base.reduce((n, s) => n + s.length, 0),
  };
}

/** A measure at a point with lower meaning better: the losses as they are, top-1 as its error 1 − top1. */
export function lowerIsBetter(p: LandscapePoint, key: LandscapeMeasure): number {
  return key === 'top1' ? 1 - p.top1 : p[key];
}
