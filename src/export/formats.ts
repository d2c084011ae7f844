// The export format registry: a name → how the deployable model stores its weights. `--export-format`'s
// choices, help and errors come from here; a new format (blocked uint4 for MatMulNBits, say) is one entry.
import { deployableGraph, type Deployable } from './deployable.js';
import type { Graph } from '../onnx/graph.js';
import type { QuantPoint } from '../quant/points.js';
import type { QuantParams } from '../quant/scheme.js';

export type ExportBuilder = (
  source: Graph, points: readonly QuantPoint[], params: Readonly<Record<string, QuantParams>>, inputMeans?: Readonly<Record<string, Float32Array>>,
) => Deployable;

export const EXPORT_FORMATS = {
  'per-channel': {
    summary: 'integer weights with one scale and zero point per output channel (uint8 at 8 bits, packed uint4 at 4 and 3), one DequantizeLinear each',
    build: deployableGraph,
  },
} satisfies Record<string, { summary: string; build: ExportBuilder }>;

export type ExportFormat = keyof typeof EXPORT_FORMATS;
export const EXPORT_FORMAT_NAMES = Object.keys(EXPORT_FORMATS) as ExportFormat[];
