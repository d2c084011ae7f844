// A multiple-choice knapsack: one option per item (a weight's width), the least total cost (sensitivity) whose
// total bytes stay within a capacity. Dynamic programming over bytes in `steps` equal units, each option's bytes
// rounded up to whole units, so a solution's true bytes never exceed the capacity.

export interface KnapsackOption {
  bytes: number;
  cost: number;
}

/** Units the capacity is cut into: finer is closer to the true optimum, and takes items × options × steps. */
export const KNAPSACK_STEPS = 4000;

/**
 * The index of the option each item takes, with the least total cost and total bytes ≤ capacity; ties go to
 * fewer bytes. Undefined when even the smallest options exceed the capacity; the smallest options where only
 * the grid's rounding keeps them out.
 */
export function cheapestWithin(
  items: readonly (readonly KnapsackOption[])[],
  capacity: number,
  steps = KNAPSACK_STEPS,
): number[] | undefined {
  const smallest = items.map((options) => options.reduce((s, o, i) => (o.bytes < options[s].bytes ? i : s), 0));
  if (items.reduce((n, options, i) => n + options[smallest[i]].bytes, 0) > capacity) return undefined;
  const unit = Math.max(capacity, 1) / steps;
  const units = items.map((options) => options.map((o) => Math.ceil(o.bytes / unit - 1e-9)));
  // best[u]: least cost of the items so far within u units; choice[i][u]: the option item i took there.
  let best = new Float64Array(steps + 1);
  const choice = items.map(() => new Int16Array(steps + 1).fill(-1));
  for (const [i, options] of items.entries()) {
    const next = new Float64Array(steps + 1).fill(Infinity);
    for (let u = 0; u <= steps; u++) {
      for (const [o, option] of options.entries()) {
        const w = units[i][o];
        if (w > u || !Number.isFinite(best[u - w])) continue;
        const cost = best[u - w] + option.cost;
        if (cost < next[u]) [next[u], choice[i][u]] = [cost, o];
      }
    }
    best = next;
  }
  // The least cost over every capacity, the fewest units among ties.
  let end = -1;
  for (let u = 0; u <= steps; u++) if (Number.isFinite(best[u]) && (end < 0 || best[u] < best[end])) end = u;
  // Rounded up, the smallest options can exceed a capacity they fit within: then they are the answer.
  if (end < 0) return smallest;
  const picked = new Array<number>(items.length);
  for (let i = items.length - 1; i >= 0; i--) {
    picked[i] = choice[i][end];
    end -= units[i][picked[i]];
  }
  return picked;
}
