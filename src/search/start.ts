// Where the search starts. The kept result is still chosen against the baseline (selection.ts), so a start
// only has to be a better place to search from, not better than the baseline by itself.
import type { Graph } from '../onnx/graph.js';
import type { QuantPoint } from '../quant/points.js';
import type { QuantParams } from '../quant/scheme.js';
import type { SearchStart } from '../config.js';

export type StartName = Exclude<SearchStart, 'auto'>;
import { mseWeightParams } from '../calibrate/observers.js';

/**
 * The params the search starts from: the baseline's (`baseline`), or with every per-channel weight's range
 * clipped to its least squared error (`mse-weights`, data-free; blocked weights keep their ranges).
 * Activation quantizers, bias correction and weight correction stay as calibrated.
 */
export function startParams(graph: Graph, points: readonly QuantPoint[], baseParams: Readonly<Record<string, QuantParams>>, start: StartName): Record<string, QuantParams> {
  const params = { ...baseParams };
  if (start === 'baseline') return params;
  for (const point of points) {
    const p = baseParams[point.id];
    if (point.kind !== 'weight' || p?.kind !== 'uniform' || p.block || p.axis === null) continue;
    const value = graph.constantValue(point.tensor);
    if (!value) continue;
    const clipped = mseWeightParams(value.values, value.dims, point.channelAxis!, p.bits);
    params[point.id] = { ...p, scale: clipped.scale, zeroPoint: clipped.zeroPoint };
  }
  return params;
}
