// OUT/quant.json: every quant point with its kind, bits, scales and zero points.
import type { QuantPoint } from '../quant/points.js';
import type { SearchUnit } from '../quant/units.js';
import type { CalibrationTable } from '../calibrate/calibrate.js';
import { effectiveScales, type QuantParams } from '../quant/scheme.js';

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
      if (p.kind === 'uniform') {
        entry.signed = false;
        entry.axis = p.axis;
        entry.scale = Array.from(effectiveScales(p));
        entry.zero_point = Array.from(p.zeroPoint);
        if (p.channelFactor) {
          entry.ptf_base_scale = p.scale[0];
          // From the params written, not the calibration table: `--start fitted` refits them.
          // log2 of each channel's factor: FQ-ViT's integers, or halves where the fitted start refit them finer.
          entry.ptf_alpha = Array.from(p.channelFactor, (f) => Math.round(Math.log2(f) * 1000) / 1000);
        }
        if (p.integerLayerNorm) entry.integer_layernorm_output = point.output;
        if (p.correction)
          entry.weight_correction = { mean: Array.from(p.correction.mean), std: Array.from(p.correction.std) };
        if (p.outputCorrection) {
          entry.output_correction = Array.from(p.outputCorrection);
          // One value per output channel, or [2, channels]: the first token's row, then the other tokens'.
          const channels = point.dims![point.channelAxis!];
          entry.output_correction_shape =
            p.outputCorrection.length === channels ? [channels] : [p.outputCorrection.length / channels, channels];
        }
      }
      if (p.kind === 'log2') entry.levels_per_octave = p.steps ?? 1;
      if (point.dims) entry.dims = point.dims;
      if (table.ranges[point.id]) entry.range = table.ranges[point.id];
      return entry;
    }),
    units: units.map((u) => ({ name: u.name, kind: u.kind, points: u.points })),
  };
}
