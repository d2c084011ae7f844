// `--size-budget`, `--accuracy-budget` and `--latency-budget`: the calibrated table (every weight at the widest
// integer width of --w-bit-choices) → one width per weight (float keeps its layer float). Each weight's bytes at
// each width come from exports built at that width, its sensitivity from the fitness (src/widths/sensitivity.ts),
// an assignment from a knapsack over both: within the size budget (its export measured against it, and a uniform
// width that fits kept instead if better on the holdout), the smallest whose holdout agreement with float stays
// within the accuracy budget (accuracy-widths.ts), or the best within the latency budget (latency-widths.ts).
import { predictedBytes } from '../widths/storage.js';
import { widthSummary, type WidthsReport } from '../widths/report.js';
import type { CalibrationTable } from '../calibrate/table.js';
import type { Prepared } from './prepare.js';
import { accuracyWidths } from './accuracy-widths.js';
import { latencyWidths } from './latency-widths.js';
import { widthLatency } from './width-latency.js';
import { widthBudget } from '../options/resolve.js';
import type { LayerTime } from '../widths/layer-times.js';
import {
  assign,
  budgetBytes,
  widthContext,
  type WidthChoice,
  type WidthContext,
  type WidthSettling,
} from './width-context.js';

export type { WidthSettling };

export interface SettledWidths {
  table: CalibrationTable;
  report: WidthsReport;
  /** The prepared model at the widths: float-width layers kept float. */
  prepared: Prepared;
}

/** Within `--size-budget`: the knapsack's widths, or a uniform width that fits if it is better on the holdout. */
async function sizeWidths(c: WidthContext): Promise<WidthChoice> {
  const { run, choices, exports, uniform } = c;
  const given = run.options.sizeBudget!;
  const bytes = budgetBytes(given, c.floatBytes, exports[exports.length - 1].file.length, choices);
  const budget = { kind: 'size' as const, bytes, given };
  if (exports[0].file.length <= bytes) return { widths: uniform(choices[0]), kept: 'assignment', budget };
  const widths = assign(c.storage, await c.sensitivity(), choices, bytes, c.fileBytes);
  // The assignment against every uniform width on the holdout: kept only if no uniform width that fits is better.
  const h = await c.holdout(c.measure);
  const measured: number[] = [];
  for (const w of [widths, ...choices.map(uniform)]) measured.push(await h.measure(w));
  const holdout = { measure: c.measure, images: run.holdout.dims[0], assignment: measured[0] };
  const uniformHoldout = measured.slice(1);
  const better = exports.findIndex((e, i) => e.file.length <= bytes && uniformHoldout[i] < measured[0]);
  if (better < 0) return { widths, kept: 'assignment', budget, holdout, uniformHoldout };
  return { widths: uniform(choices[better]), kept: `uniform ${choices[better]}-bit`, budget, holdout, uniformHoldout };
}

/** One width per weight point within `--size-budget` or `--accuracy-budget`, and the table calibrated at them. */
export async function settleWidths(run: WidthSettling): Promise<SettledWidths> {
  const started = performance.now();
  const c = widthContext(run);
  const settle = { sizeBudget: sizeWidths, accuracyBudget: accuracyWidths, latencyBudget: latencyWidths };
  const choice: WidthChoice & { layerTimes?: Record<string, LayerTime> } = await settle[widthBudget(run.options)!](c);
  const sensitivity =
    choice.layerTimes || choice.holdout || choice.budget.kind === 'accuracy' ? await c.sensitivity() : undefined;
  const { widths } = choice;
  // Timed for the report unless --no-speed; a latency budget has timed its layers already.
  const timed = run.options.speed || choice.layerTimes ? await widthLatency(c, widths, choice.layerTimes) : undefined;
  const report: WidthsReport = {
    budget: choice.budget,
    choices: [...c.choices],
    floatBytes: c.floatBytes,
    bytes: c.fileBytes(widths),
    predictedBytes: predictedBytes(c.storage, widths),
    uniform: c.exports.map((e, i) => ({
      bits: e.bits,
      bytes: e.file.length,
      holdout: choice.uniformHoldout?.[i] ?? null,
      ...(timed ? { ms: timed.uniformMs[i] } : {}),
    })),
    ...(timed ? { floatMs: timed.floatMs, ms: timed.ms } : {}),
    kept: choice.kept,
    sensitivity: sensitivity && {
      measure: c.measure,
      images: sensitivity.images,
      base: sensitivity.base,
      forwards: sensitivity.forwards,
    },
    holdout: choice.holdout,
    layers: c.weights.map((p) => ({
      point: p.id,
      node: p.node,
      bits: widths[p.id],
      bytes: c.storage.bytes[p.id][widths[p.id]],
      rise: sensitivity?.rise[p.id] ?? {},
      ...(timed ? { ms: timed.layers[p.id] } : {}),
    })),
    seconds: (performance.now() - started) / 1000,
  };
  run.progress.log(`widths: ${widthSummary(report)}`);
  return { table: { ...run.table, params: c.paramsAt(widths) }, report, prepared: c.preparedAt(widths) };
}
