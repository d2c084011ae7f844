// `--accuracy-budget P`: the smallest weight widths whose top-1 agreement with float on the holdout images is at
// most P points below 100%. The knapsack gives the least sensitive widths within each number of bytes; the bytes
// are bisected between every weight at the narrowest and every weight at the widest width, each try measured on
// the holdout (agreement is taken to rise with the bytes, which the knapsack's widths make near enough).
import { argmax } from '../evaluate/metrics.js';
import { ConfigError } from '../errors.js';
import type { FloatTensor } from '../runtime/runner.js';
import { cheapestWithin } from '../widths/knapsack.js';
import { FLOAT_WIDTH, widthName } from '../quant/scheme.js';
import { widestInteger } from '../options/resolve.js';
import { knapsackItems, type WidthChoice, type WidthContext } from './width-context.js';

/** Bisections of the bytes between the narrowest and the widest widths: each halves the gap, one holdout forward. */
export const ACCURACY_BISECTIONS = 6;

/** The share of images whose top-1 class is float's, over batches of logits. */
export function topAgreement(quantized: readonly FloatTensor[], reference: readonly FloatTensor[]): number {
  let [same, total] = [0, 0];
  for (const [b, q] of quantized.entries()) {
    const [rows, classes] = q.dims;
    for (let r = 0; r < rows; r++)
      if (argmax(q.data, r * classes, classes) === argmax(reference[b].data, r * classes, classes)) same++;
    total += rows;
  }
  return total ? same / total : 1;
}

export async function accuracyWidths(c: WidthContext): Promise<WidthChoice> {
  const { run, choices, uniform, storage } = c;
  const points = run.options.accuracyBudget!;
  if (run.prepared.model.task.task !== 'image-classification')
    throw new ConfigError(
      `--accuracy-budget bounds the drop of top-1 agreement with float's classes, and the model is an image encoder: give --size-budget`,
      '--accuracy-budget',
    );
  const h = await c.holdout('kl');
  const images = run.holdout.dims[0];
  const tried: { bytes: number; drop: number }[] = [];
  // A capacity whose knapsack gives widths already tried (more bytes the sensitivities do not pay for) is not
  // measured again.
  const known = new Map<string, number>();
  const drop = async (widths: Record<string, number>) => {
    const key = JSON.stringify(widths);
    if (known.has(key)) return known.get(key)!;
    const agreement = topAgreement(await h.logits(widths), h.scored.reference);
    // From the count of images that differ: 100 · (1 − 0.98) is not 2 in floating point.
    const measured = { bytes: c.fileBytes(widths), drop: (100 * Math.round((1 - agreement) * images)) / images };
    tried.push(measured);
    known.set(key, measured.drop);
    run.progress.log(`accuracy budget: ${measured.bytes} bytes agree with float ${(100 - measured.drop).toFixed(2)}%`);
    return measured.drop;
  };
  const budget = () => ({ kind: 'accuracy' as const, points, images, tried });
  const widest = uniform(choices[0]);
  const widestDrop = await drop(widest);
  if (widestDrop > points)
    throw new ConfigError(
      `--accuracy-budget ${points}: with every weight at ${widthName(choices[0])}${choices[0] === FLOAT_WIDTH ? ' (activations quantized)' : ' bits'}, top-1 agrees with float on ${(100 - widestDrop).toFixed(2)}% of the ${images} holdout images, ${widestDrop.toFixed(2)} points below: give a budget of at least that${choices[0] === FLOAT_WIDTH ? '' : ', or add float to --w-bit-choices'}`,
      '--accuracy-budget',
    );
  const items = knapsackItems(storage.bytes, await c.sensitivity(), choices);
  const ids = Object.keys(storage.bytes);
  const within = (capacity: number) => {
    const picked = cheapestWithin(items, capacity)!;
    return Object.fromEntries(ids.map((id, i) => [id, choices[picked[i]]]));
  };
  const sum = (bits: number) => ids.reduce((n, id) => n + storage.bytes[id][bits], 0);
  let [fails, passes] = [sum(choices[choices.length - 1]), sum(choices[0])];
  let best = widest;
  // With float among the choices, the widest integer width is tried next: where it passes, the bisection stays
  // below its bytes (float only where the integers miss), at the finer steps of the narrower range.
  const base = widestInteger(choices);
  if (base !== choices[0] && (await drop(uniform(base))) <= points) [best, passes] = [uniform(base), sum(base)];
  const narrowest = uniform(choices[choices.length - 1]);
  if ((await drop(narrowest)) <= points) return { widths: narrowest, kept: 'assignment', budget: budget() };
  for (let step = 0; step < ACCURACY_BISECTIONS; step++) {
    const capacity = (fails + passes) / 2;
    const widths = within(capacity);
    if ((await drop(widths)) <= points) [best, passes] = [widths, capacity];
    else fails = capacity;
  }
  return { widths: best, kept: 'assignment', budget: budget() };
}
