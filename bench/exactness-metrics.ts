// bench/exactness.ts's measures: each runtime's logits against the labels, the float model's and the simulation's,
// and the table they make.
import { sameTop1, topkHits } from '../src/evaluate/metrics.js';
import { kl } from '../src/fitness/losses.js';

/** The targets for the default settings: top-1 within 0.1 points and KL to float within 10% of the simulation's. */
export const TARGETS = { top1Points: 0.1, klRatio: 0.1 };

export interface Measures {
  top1: number;
  /** Mean KL(softmax(float) ‖ softmax(this)) per image. */
  kl: number;
  /** Share of images whose top-1 is the float model's. */
  agreement: number;
}

export interface Row extends Measures {
  model: string;
  setting: string;
  runtime: string;
  images: number;
  /** Top-1 minus the simulation's, in points. */
  top1VsSimulation?: number;
  /** KL / the simulation's KL − 1. */
  klVsSimulation?: number;
  /** Largest |logit − the simulation's logit| over the images. */
  maxLogitDiff?: number;
  /** Largest |logit − model.onnx's logit in onnxruntime-node on this CPU|, and on how many images they differ. */
  toNode?: { maxLogitDiff: number; imagesDiffering: number };
  /** Whether the row is within TARGETS of the simulation (rows of the default settings only). */
  withinTargets?: boolean;
}

export function measures(logits: Float32Array, float: Float32Array, labels: Int32Array, classes: number): Measures {
  const n = labels.length;
  return {
    top1: topkHits(logits, classes, labels).top1 / n,
    kl: kl(logits, float, n, classes),
    agreement: sameTop1(logits, float, n, classes) / n,
  };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** How far a runtime's logits are from onnxruntime-node's on this CPU: the largest difference, images not identical. */
export function toNode(logits: Float32Array, node: Float32Array, classes: number): Row['toNode'] {
  let imagesDiffering = 0;
  for (let r = 0; r < logits.length / classes; r++) {
    for (let c = r * classes; c < (r + 1) * classes; c++) {
      if (logits[c] !== node[c]) {
        imagesDiffering++;
        break;
      }
    }
  }
  return { maxLogitDiff: maxAbsDiff(logits, node), imagesDiffering };
}

/** A runtime's row beside the simulation's logits and measures. */
export function comparedRow(
  base: Omit<Row, keyof Measures>,
  own: Measures,
  logits: Float32Array,
  simulation: { logits: Float32Array; measures: Measures },
  judged: boolean,
): Row {
  const top1VsSimulation = 100 * (own.top1 - simulation.measures.top1);
  const klVsSimulation = own.kl / simulation.measures.kl - 1;
  const withinTargets =
    Math.abs(top1VsSimulation) <= TARGETS.top1Points + 1e-9 && Math.abs(klVsSimulation) <= TARGETS.klRatio;
  return {
    ...base,
    ...own,
    top1VsSimulation,
    klVsSimulation,
    maxLogitDiff: maxAbsDiff(logits, simulation.logits),
    ...(judged ? { withinTargets } : {}),
  };
}

const signed = (x: number, digits: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;

/** The Markdown table of the rows. */
export function markdownTable(rows: readonly Row[]): string {
  const head = [
    'model',
    'setting',
    'runtime',
    'top-1 %',
    'Δ top-1 vs sim (points)',
    'KL to float',
    'KL vs sim',
    'agreement %',
    'max |Δ logit| vs sim',
    'targets',
  ];
  const lines = rows.map((r) => [
    r.model,
    r.setting,
    r.runtime,
    (100 * r.top1).toFixed(2),
    r.top1VsSimulation === undefined ? '' : signed(r.top1VsSimulation, 2),
    r.kl.toPrecision(4),
    r.klVsSimulation === undefined ? '' : `${signed(100 * r.klVsSimulation, 1)}%`,
    (100 * r.agreement).toFixed(2),
    r.maxLogitDiff === undefined ? '' : r.maxLogitDiff.toPrecision(3),
    r.withinTargets === undefined ? '' : r.withinTargets ? 'yes' : '**no**',
  ]);
  return [head, head.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}
