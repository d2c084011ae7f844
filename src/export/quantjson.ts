// OUT/quant.json: every quant point with its kind, bits, and its quantizer's and corrections' fields.
import type { QuantPoint } from '../quant/points.js';
import type { SearchUnit } from '../quant/units.js';
import type { CalibrationTable } from '../calibrate/table.js';
import type { QuantParams } from '../quant/scheme.js';
import { quantizerKind } from '../quant/kinds/registry.js';
import { weightCorrectionJson } from '../quant/corrections/weight-correction.js';
import { outputCorrectionJson } from '../quant/corrections/layer-shift.js';

export function quantJson(
  points: readonly QuantPoint[],
  units: readonly SearchUnit[],
  table: CalibrationTable,
  params: Readonly<Record<string, QuantParams>>,
) {
  return {
    format: 'evolq-quant/1',
    points: points.map((point) => {
      const p = params[point.id];
      const entry: Record<string, unknown> = {
        id: point.id,
        kind: point.kind,
        tensor: point.tensor,
        node: point.node,
        consumers: point.consumers,
      };
      if (point.role) entry.role = point.role;
      if (!p) return entry;
      entry.quantizer = p.kind;
      entry.bits = p.bits;
      Object.assign(entry, quantizerKind(p).json(point, p), weightCorrectionJson(p), outputCorrectionJson(point, p));
      if (point.dims) entry.dims = point.dims;
      if (table.ranges[point.id]) entry.range = table.ranges[point.id];
      return entry;
    }),
    units: units.map((u) => ({ name: u.name, kind: u.kind, points: u.points })),
  };
}
