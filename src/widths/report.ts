// report.json's `widths`: what a width budget (size, accuracy or latency) chose for each weight, and why.
import type { SizeBudget } from '../options/values.js';
import { FLOAT_WIDTH } from '../quant/scheme.js';
import type { LayerTime } from './layer-times.js';

/** What a latency budget measured: float's and the all-integer model's times, and each assignment tried. */
export interface LatencyBudget {
  kind: 'latency';
  fraction: number;
  floatMs: number;
  integerMs: number;
  /** Layer times alone × this = their share of the model's time (latency-widths.ts: inModelScale). */
  layerScale?: number;
  /** Each assignment tried: its predicted and its measured fraction of float's latency. */
  tried: { predicted: number; measured: number }[];
  /** The kept model's fraction of float's latency as timed when it was chosen (the integer model's if no try). */
  measured: number;
}

export interface WidthsReport {
  /**
   * --size-budget in bytes, and as it was given; or --accuracy-budget in points of top-1 agreement with float on
   * the holdout images, and each try of the bisection (model.onnx's bytes, its drop in points).
   */
  budget:
    | { kind: 'size'; bytes: number; given: SizeBudget }
    | { kind: 'accuracy'; points: number; images: number; tried: { bytes: number; drop: number }[] }
    | LatencyBudget;
  /** --w-bit-choices, widest first. */
  choices: number[];
  floatBytes: number;
  /** model.onnx's bytes with these widths (the search changes scales, not sizes), and as the per-point sum predicted. */
  bytes: number;
  predictedBytes: number;
  /**
   * model.onnx's bytes with every weight at each width, its holdout measure (null where none was measured) and,
   * unless --no-speed, its milliseconds at batch 1 timed beside float's and the chosen widths' (floatMs, ms).
   */
  uniform: { bits: number; bytes: number; holdout: number | null; ms?: number }[];
  floatMs?: number;
  ms?: number;
  /** 'assignment' (the knapsack's), or the uniform width (within the budget) kept because its holdout measure was lower. */
  kept: string;
  /** The sensitivity pass (absent when the widest width fits the budget): its measure, images, base value and cost. */
  sensitivity?: { measure: 'kl' | 'cosine'; images: number; base: number; forwards: number };
  /** The assignment's holdout measure (absent with the sensitivity pass). */
  holdout?: { measure: 'kl' | 'cosine'; images: number; assignment: number };
  /**
   * Each weight point: its width (32: float), its bytes there, the measure's rise at each other width, and (unless
   * --no-speed) its layer's time alone at batch 1, float and integer (ms).
   */
  layers: { point: string; node: string; bits: number; bytes: number; rise: Record<number, number>; ms?: LayerTime }[];
  seconds: number;
}

const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(2)} MiB`;

/** `12 at 8 bits, 10 at 4, 4 at 2: 1.23 MiB of 1.25 MiB (0.19 of float)`. */
export function widthSummary(report: WidthsReport): string {
  const counts = report.choices
    .map((bits) => [bits, report.layers.filter((l) => l.bits === bits).length])
    .filter(([, n]) => n > 0)
    .map(([bits, n]) => (bits === FLOAT_WIDTH ? `${n} float` : `${n} at ${bits}`))
    .join(', ');
  const { budget } = report;
  const size = `${mib(report.bytes)}${budget.kind === 'size' ? ` of ${mib(budget.bytes)}` : ''} (${(report.bytes / report.floatBytes).toFixed(3)} of float)`;
  const latency =
    budget.kind === 'latency'
      ? `; ${budget.measured.toFixed(2)} of float's latency at batch 1 (budget: ${budget.fraction})`
      : '';
  const agreement =
    budget.kind !== 'accuracy'
      ? latency
      : `, top-1 agreement with float ${(100 - budget.tried.find((t) => t.bytes === report.bytes)!.drop).toFixed(2)}% on ${budget.images} holdout images (budget: ${budget.points} points below 100%)`;
  return `${counts} bits: ${size}${agreement}${report.kept === 'assignment' ? '' : `; the ${report.kept} model is kept, better on the holdout`}`;
}
