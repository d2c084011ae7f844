// Where the search starts. The kept result is still chosen against the baseline (selection.ts), so a start
// only has to be a better place to search from, not better than the baseline by itself.
import type { Graph } from '../onnx/graph.js';
import type { QuantPoint } from '../quant/points.js';
import { channelStats, type QuantParams } from '../quant/scheme.js';
import { SEARCH_STARTS, type SearchStart } from '../config.js';

export type StartName = Exclude<SearchStart, 'auto'>;
/** The starts `--start auto` chooses among, in order (the first wins a tie). */
export const START_NAMES = SEARCH_STARTS.filter((s): s is StartName => s !== 'auto');

/**
 * The params the search starts from: the baseline's (`baseline`), or with the Evol-Q code's data-free weight
 * correction on every per-channel weight (`corrected`: in every forward, after every mutation, each output
 * channel of the dequantized weight gets the float weight's mean and standard deviation; see
 * `--weight-correction`). Blocked weights, which the export cannot correct, and activation quantizers stay as
 * calibrated.
 */
export function startParams(graph: Graph, points: readonly QuantPoint[], baseParams: Readonly<Record<string, QuantParams>>, start: StartName): Record<string, QuantParams> {
  const params = { ...baseParams };
  if (start === 'baseline') return params;
  for (const point of points) {
    const p = baseParams[point.id];
    if (point.kind !== 'weight' || p?.kind !== 'uniform' || p.block || p.correction || p.axis === null) continue;
    const value = graph.constantValue(point.tensor);
    if (!value) continue;
    params[point.id] = { ...p, correction: channelStats(value.values, value.dims, point.channelAxis!) };
  }
  return params;
}
