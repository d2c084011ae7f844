// What choosing weight widths works with (settle-widths.ts): each weight's params and bytes at each width, its
// sensitivity, the holdout fitness, and the knapsack that assigns widths within a number of bytes.
import { weightParams } from '../calibrate/observers/weights.js';
import { FLOAT_WIDTH, widthName } from '../quant/scheme.js';
import { widestInteger } from '../options/resolve.js';
import { withoutFloatLayers } from '../quant/float-layers.js';
import { findUnits } from '../quant/units.js';
import type { Prepared } from './prepare.js';
import { EXPORT_FORMATS } from '../export/formats.js';
import { Fitness } from '../fitness/fitness.js';
import { lossFunction } from '../fitness/losses.js';
import type { SizeBudget } from '../options/values.js';
import { weightLevelBits, type QuantParams } from '../quant/scheme.js';
import type { QuantPoint } from '../quant/points.js';
import { ConfigError } from '../errors.js';
import { cheapestWithin } from '../widths/knapsack.js';
import { weightSensitivity, type WeightSensitivity } from '../widths/sensitivity.js';
import { widthStorage, type WidthStorage } from '../widths/storage.js';
import type { WidthsReport } from '../widths/report.js';
import { fitnessSetup, type ScaleSearch } from './search-scales.js';
import type { ScoredImages } from '../fitness/batches.js';
import type { FloatTensor } from '../runtime/runner.js';

type Params = Record<string, QuantParams>;

export type WidthSettling = Pick<
  ScaleSearch,
  'runner' | 'prepared' | 'table' | 'calibration' | 'holdout' | 'options' | 'out' | 'progress'
>;

/** How many times the assignment is solved again, with the capacity less the overshoot, when its export is over. */
const RESOLVES = 4;

const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(2)} MiB`;

/** The budget in bytes; one that no width reaches, or that float's file already meets, is refused. */
export function budgetBytes(
  budget: SizeBudget,
  floatBytes: number,
  smallest: number,
  choices: readonly number[],
): number {
  const bytes = 'bytes' in budget ? budget.bytes : Math.floor(budget.fraction * floatBytes);
  const given = 'bytes' in budget ? mib(bytes) : String(budget.fraction);
  if (bytes >= floatBytes)
    throw new ConfigError(
      `--size-budget ${given} is not below the float model's ${mib(floatBytes)}: give a smaller budget, or leave it out`,
      '--size-budget',
    );
  if (bytes < smallest)
    throw new ConfigError(
      `--size-budget ${given}: the smallest model.onnx --w-bit-choices ${choices.map(widthName).join(',')} reach is ${mib(smallest)} (${(smallest / floatBytes).toFixed(3)} of float): give at least that`,
      '--size-budget',
    );
  return bytes;
}

/** The baseline's params with each point in `widths` recalibrated (per-channel min-max) at its width. */
function atWidths(
  base: Readonly<Params>,
  weights: readonly QuantPoint[],
  widths: Readonly<Record<string, number>>,
  { graph, reduceRange }: { graph: WidthSettling['prepared']['model']['graph']; reduceRange: boolean },
): Params {
  const params: Params = { ...base };
  for (const point of weights) {
    if (widths[point.id] === undefined || widths[point.id] === FLOAT_WIDTH) continue;
    const value = graph.constantValue(point.tensor)!;
    const bits = weightLevelBits(widths[point.id], reduceRange);
    params[point.id] = { ...base[point.id], ...weightParams(value.values, value.dims, point.channelAxis!, bits) };
  }
  return params;
}

/**
 * The knapsack's items: per weight, what it takes at each width (its bytes, or its time) and its sensitivity there
 * (0 at the widest integer width, where it was calibrated; below 0 at float where float helps).
 */
export function knapsackItems(
  takes: Readonly<Record<string, Readonly<Record<number, number>>>>,
  sensitivity: WeightSensitivity,
  choices: readonly number[],
) {
  const base = widestInteger(choices);
  return Object.keys(takes).map((id) =>
    choices.map((bits) => ({ bytes: takes[id][bits], cost: bits === base ? 0 : sensitivity.rise[id][bits] })),
  );
}

/**
 * The prepared model with the layers of float-width weights kept float (their weight points dropped, each
 * activation point's consumers less them, as --float-layers does) and its units found again. Point ids stay, so the
 * calibration table still applies.
 */
export function preparedAtWidths(
  prepared: Prepared,
  widths: Readonly<Record<string, number>>,
  space: Parameters<typeof findUnits>[2],
): Prepared {
  const float = new Set(prepared.points.filter((p) => widths[p.id] === FLOAT_WIDTH).map((p) => p.node));
  if (!float.size) return prepared;
  const points = withoutFloatLayers(prepared.points, (node: string) => float.has(node));
  return { ...prepared, points, units: findUnits(prepared.model.graph, points, space) };
}

/** The knapsack's widths; solved again with less capacity while the built file is over the budget. */
export function assign(
  storage: WidthStorage,
  sensitivity: WeightSensitivity,
  choices: readonly number[],
  budget: number,
  fileBytes: (widths: Record<string, number>) => number,
): Record<string, number> {
  const ids = Object.keys(storage.bytes);
  const items = knapsackItems(storage.bytes, sensitivity, choices);
  let capacity = budget - storage.rest;
  for (let attempt = 0; attempt < RESOLVES; attempt++) {
    const picked = cheapestWithin(items, capacity);
    if (!picked) break;
    const widths = Object.fromEntries(ids.map((id, i) => [id, choices[picked[i]]]));
    const over = fileBytes(widths) - budget;
    if (over <= 0) return widths;
    capacity -= over;
  }
  // The narrowest uniform export fits (budgetBytes checked), so this is a fault of the size model, not of the input.
  throw new Error(`--size-budget: no assignment within ${budget} bytes after ${RESOLVES} tries of the knapsack`);
}

/** The holdout images scored by float once, and measures of the simulated model at any widths on them. */
export interface WidthHoldout {
  scored: ScoredImages;
  /** The fitness loss over the holdout. */
  measure: (widths: Record<string, number>) => Promise<number>;
  /** The quantized logits, batch by batch. */
  logits: (widths: Record<string, number>) => Promise<FloatTensor[]>;
}

/** What choosing widths works with: the weights, their params and bytes at each width, and the measures. */
export interface WidthContext {
  run: WidthSettling;
  weights: QuantPoint[];
  choices: readonly number[];
  uniform: (bits: number) => Record<string, number>;
  paramsAt: (widths: Record<string, number>) => Params;
  /** The prepared model at these widths: float-width layers kept float. */
  preparedAt: (widths: Record<string, number>) => Prepared;
  /** model.onnx at these widths. */
  build: (widths: Record<string, number>) => Uint8Array;
  fileBytes: (widths: Record<string, number>) => number;
  exports: { bits: number; file: Uint8Array }[];
  storage: WidthStorage;
  floatBytes: number;
  measure: 'kl' | 'cosine';
  /** The sensitivity pass (run once, on the first call). */
  sensitivity: () => Promise<WeightSensitivity>;
  /** The holdout with `loss` (the float outputs computed once per call). */
  holdout: (loss: 'kl' | 'cosine') => Promise<WidthHoldout>;
}

export function widthContext(run: WidthSettling): WidthContext {
  const { prepared, table, options, progress } = run;
  const { model, points } = prepared;
  const choices = options.wBitChoices;
  const weights = points.filter((p) => p.kind === 'weight' && table.params[p.id]?.kind === 'uniform');
  const ids = weights.map((p) => p.id);
  const uniform = (bits: number) => Object.fromEntries(ids.map((id) => [id, bits]));
  const paramsAt = (widths: Record<string, number>) =>
    atWidths(table.params, weights, widths, { graph: model.graph, reduceRange: options.reduceRange });
  const preparedAt = (widths: Record<string, number>) => preparedAtWidths(prepared, widths, options.searchSpace);
  const setupAt = (widths: Record<string, number>) => fitnessSetup({ ...run, prepared: preparedAt(widths) });
  // The latest build is kept: the assignment's file is measured against the budget, then reported.
  let latest: { key: string; file: Uint8Array } | undefined;
  const build = (widths: Record<string, number>) => {
    const key = JSON.stringify(widths);
    if (latest?.key !== key) {
      const deployable = EXPORT_FORMATS[options.exportFormat].build(
        model.graph,
        preparedAt(widths).points,
        paramsAt(widths),
        table.inputMeans,
      );
      latest = { key, file: deployable.graph.toBytes() };
    }
    return latest.file;
  };
  progress.log(`widths: exporting every weight at ${choices.map(widthName).join(', ')} to measure their bytes`);
  const exports = choices.map((bits) => ({ bits, file: build(uniform(bits)) }));
  const measure = model.task.task === 'image-classification' ? 'kl' : 'cosine';
  const base = widestInteger(choices);
  let sensitivity: Promise<WeightSensitivity> | undefined;
  const lowered = () =>
    weights.map((point) => ({
      point,
      params: Object.fromEntries(
        choices
          .filter((bits) => bits !== base && bits !== FLOAT_WIDTH)
          .map((bits) => [bits, paramsAt({ [point.id]: bits })[point.id]]),
      ),
      float: choices.includes(FLOAT_WIDTH) ? setupAt({ [point.id]: FLOAT_WIDTH }) : undefined,
    }));
  const holdout = async (loss: 'kl' | 'cosine'): Promise<WidthHoldout> => {
    // One fitness per set of float layers (the simulation's structure); scales and widths are its params.
    const fitnesses = new Map<string, Fitness>();
    const fitnessAt = (widths: Record<string, number>) => {
      const key = ids.filter((id) => widths[id] === FLOAT_WIDTH).join();
      if (!fitnesses.has(key)) fitnesses.set(key, new Fitness(setupAt(widths), table.params, lossFunction(loss, 1)));
      return fitnesses.get(key)!;
    };
    const scored = await fitnessAt({}).score(run.holdout);
    return {
      scored,
      measure: async (widths) => (await fitnessAt(widths).full(paramsAt(widths), scored)).fitness,
      logits: (widths) => fitnessAt(widths).logits(paramsAt(widths), scored),
    };
  };
  return {
    run,
    weights,
    choices,
    uniform,
    paramsAt,
    preparedAt,
    build,
    fileBytes: (widths) => build(widths).length,
    exports,
    storage: widthStorage(exports, weights),
    floatBytes: model.graph.toBytes().length,
    measure,
    sensitivity: () =>
      (sensitivity ??= weightSensitivity({
        setup: fitnessSetup(run),
        base: table.params,
        lowered: lowered(),
        calibration: run.calibration,
        measure,
        progress,
      })),
    holdout,
  };
}

/** What a budget chose: the widths, what was kept, and what was measured on the way. */
export interface WidthChoice {
  widths: Record<string, number>;
  kept: string;
  budget: WidthsReport['budget'];
  holdout?: WidthsReport['holdout'];
  uniformHoldout?: (number | null)[];
}
