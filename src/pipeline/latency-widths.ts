// `--latency-budget F`: model.onnx's latency at batch 1 on this machine within F of the float model's. Every
// integer width runs the same int8 kernels (narrow levels are widened at load), so what a layer's width changes in
// time is whether it is float. Each layer's time, float and integer, is measured alone (widths/layer-times.ts);
// the knapsack keeps float the layers whose float saves the most sensitivity within the time the budget leaves,
// and the assignment's model.onnx is timed against float, solved again with the overshoot taken off or the room
// left added (fitLatency).
import { ConfigError } from '../errors.js';
import { widestInteger } from '../options/resolve.js';
import { FLOAT_WIDTH } from '../quant/scheme.js';
import { cheapestWithin, type KnapsackOption } from '../widths/knapsack.js';
import { layerTimes, timeModels, type LayerTime } from '../widths/layer-times.js';
import { knapsackItems, type WidthChoice, type WidthContext } from './width-context.js';
import type { LatencyBudget } from '../widths/report.js';
import { layerModelsOf, timingFeeds } from './width-latency.js';

export type { LatencyBudget };

/** Assignments tried (each timed against float) before the last one within budget, or the integer model, is kept. */
const LATENCY_TRIES = 4;
/** Room under the budget (a fraction of float's latency) that is worth another try with more float layers. */
const LATENCY_SLACK = 0.02;

/** What fitLatency works with: the knapsack's items (time in ms as `bytes`), per weight id, and the budget. */
export interface LatencyFit {
  items: KnapsackOption[][];
  ids: string[];
  choices: readonly number[];
  /** The integer model's time that is no weight layer's (ms), and float's time. */
  rest: number;
  floatMs: number;
  fraction: number;
}

/**
 * The knapsack's widths within the time the budget leaves the layers, each assignment timed (`time`: its fraction of
 * float's latency, pushed to `tried`). Timed over the budget, it is solved again with the overshoot taken off; timed
 * under it by more than LATENCY_SLACK, again with the room left added, and the last one within is kept, with its
 * measured fraction. Undefined when no try met the budget.
 */
export async function fitLatency(
  fit: LatencyFit,
  time: (widths: Record<string, number>) => Promise<number>,
  tried: LatencyBudget['tried'],
): Promise<{ widths: Record<string, number>; measured: number } | undefined> {
  const { items, ids, choices, rest, floatMs, fraction } = fit;
  let capacity = fraction * floatMs - rest;
  let [within, last] = [undefined as { widths: Record<string, number>; measured: number } | undefined, ''];
  for (let attempt = 0; attempt < LATENCY_TRIES; attempt++) {
    const picked = cheapestWithin(items, capacity);
    if (!picked || picked.join() === last) break;
    last = picked.join();
    const widths = Object.fromEntries(ids.map((id, i) => [id, choices[picked[i]]]));
    const predicted = (rest + picked.reduce((n, o, i) => n + items[i][o].bytes, 0)) / floatMs;
    const measured = await time(widths);
    tried.push({ predicted, measured });
    if (measured <= fraction) within = { widths, measured };
    if (measured <= fraction && fraction - measured < LATENCY_SLACK) break;
    capacity += (fraction - measured) * floatMs;
  }
  return within;
}

/**
 * How much faster a layer runs inside the model than alone (cut out, its input comes cold from outside, and each run
 * pays a session's overhead): taken to be the same for float and integer layers, it is what makes the two models'
 * times differ by their layers' difference, (float − integer model) / (float − integer layers). Where the layers
 * do not differ that way (a CPU whose integer kernels are no faster), 1.
 */
export function inModelScale(times: Readonly<Record<string, LayerTime>>, floatMs: number, integerMs: number): number {
  const saved = Object.values(times).reduce((n, t) => n + t.float - t.integer, 0);
  const scale = (floatMs - integerMs) / saved;
  return saved > 0 && scale > 0.25 && scale < 4 ? scale : 1;
}

/** `0.52 of the float model's latency at batch 1 here (5.1 vs 9.8 ms)`. */
const ofFloat = (ms: number, floatMs: number) =>
  `${(ms / floatMs).toFixed(2)} of the float model's latency at batch 1 on this machine (${ms.toFixed(2)} vs ${floatMs.toFixed(2)} ms)`;

export async function latencyWidths(
  c: WidthContext,
): Promise<WidthChoice & { layerTimes?: Record<string, LayerTime> }> {
  const { run, choices, uniform } = c;
  const { runner, prepared, options, progress } = run;
  const fraction = options.latencyBudget!;
  const { model } = prepared;
  const feeds = timingFeeds(run);
  const floatModel = model.graph.toBytes();
  const bits = widestInteger(choices);
  const integer = uniform(bits);
  const [floatMs, integerMs] = await timeModels(runner, [floatModel, c.build(integer)], feeds);
  const integerFraction = integerMs / floatMs;
  const budget: LatencyBudget = { kind: 'latency', fraction, floatMs, integerMs, tried: [], measured: integerFraction };
  if (integerMs > fraction * floatMs)
    throw new ConfigError(
      `--latency-budget ${fraction}: the fastest model.onnx here, every weight at ${bits} bits, runs at ${ofFloat(integerMs, floatMs)}: give at least that`,
      '--latency-budget',
    );
  if (!choices.includes(FLOAT_WIDTH)) return { widths: integer, kept: 'assignment', budget };
  const times = await layerTimes(runner, layerModelsOf(run), c.weights, feeds, progress);
  const takes = Object.fromEntries(
    Object.entries(times).map(([id, t]) => [
      id,
      Object.fromEntries(choices.map((b) => [b, b === FLOAT_WIDTH ? t.float : t.integer])),
    ]),
  );
  const scale = inModelScale(times, floatMs, integerMs);
  budget.layerScale = scale;
  const items = knapsackItems(takes, await c.sensitivity(), choices).map((options) =>
    options.map((o) => ({ ...o, bytes: o.bytes * scale })),
  );
  const rest = integerMs - scale * Object.values(times).reduce((n, t) => n + t.integer, 0);
  const timed = async (widths: Record<string, number>) => {
    const [againstMs, ms] = await timeModels(runner, [floatModel, c.build(widths)], feeds);
    progress.log(
      `latency budget: ${Object.values(widths).filter((b) => b === FLOAT_WIDTH).length} layers float, ${ofFloat(ms, againstMs)}`,
    );
    return ms / againstMs;
  };
  const fit = { items, ids: Object.keys(takes), choices, rest, floatMs, fraction };
  const fitted = await fitLatency(fit, timed, budget.tried);
  const widths = fitted?.widths ?? integer;
  // Never worse than the uniform integer model, which meets the budget: the assignment is kept only if better.
  const h = await c.holdout(c.measure);
  const [assignment, base] = [await h.measure(widths), await h.measure(integer)];
  const holdout = { measure: c.measure, images: run.holdout.dims[0], assignment };
  const uniformHoldout = choices.map((b) => (b === bits ? base : null));
  const choice = { budget, holdout, uniformHoldout, layerTimes: times };
  if (base < assignment) return { ...choice, widths: integer, kept: `uniform ${bits}-bit` };
  budget.measured = fitted?.measured ?? integerFraction;
  return { ...choice, widths, kept: 'assignment' };
}
