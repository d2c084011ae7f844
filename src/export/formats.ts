// The export format registry: a name → how the deployable model stores its weights and which kernels run
// them. `--export-format`'s choices, help and errors come from here; a new format is one entry.
import { deployableGraph, type Deployable } from './deployable.js';
import type { Graph } from '../onnx/graph.js';
import type { QuantPoint } from '../quant/points.js';
import type { QuantParams } from '../quant/scheme.js';

export type ExportBuilder = (
  source: Graph,
  points: readonly QuantPoint[],
  params: Readonly<Record<string, QuantParams>>,
  inputMeans?: Readonly<Record<string, Float32Array>>,
) => Deployable;

export interface ExportFormatEntry {
  summary: string;
  build: ExportBuilder;
  /** Weight bit widths the format can store. */
  wBits: readonly number[];
  /** The weights' quantization granularity the format stores, which calibration and the search then use: blocks of this many input rows (absent: per output channel). */
  weightBlock?: number;
}

export const EXPORT_FORMATS = {
  'per-channel': {
    summary:
      "integer weights with one scale and zero point per output channel, MatMuls written as onnxruntime's MatMulIntegerToFloat (uint8 × int8, bias fused): int8 at 8 bits; at 4 and 3 the MatMul and Conv weights stored two to a uint8 byte (at 2 bits, four) and split into int8 by BitwiseAnd/BitShift/Concat/Cast, which onnxruntime folds at load (a 4-bit file at 8-bit speed that every onnxruntime-web build loads, transformers.js's too), other weights packed uint4",
    build: (source, points, params, inputMeans) =>
      deployableGraph(source, points, params, inputMeans, { integerKernels: true, widenUint4: 'nibbles' }),
    wBits: [8, 4, 3, 2],
  },
  widened: {
    summary:
      'per-channel packed uint4 weights widened to int8 by a Cast onnxruntime folds at load, so 4-bit MatMuls run as MatMulIntegerToFloat as in per-channel, from uint4 in the file (needs Cast of uint4, opset 21: onnxruntime-node and -web 1.30 have it, the web build transformers.js 4.3 bundles does not)',
    build: (source, points, params, inputMeans) =>
      deployableGraph(source, points, params, inputMeans, { integerKernels: true, widenUint4: 'cast' }),
    wBits: [4, 3],
  },
  qdq: {
    summary:
      'the per-channel weights (int8, or packed uint4 at 4 and 3 bits) with standard ONNX operators only (QuantizeLinear/DequantizeLinear around float ops), for runtimes other than onnxruntime; onnxruntime fuses the 8-bit layers into integer kernels and dequantizes 4-bit weights at every run',
    build: (source, points, params, inputMeans) =>
      deployableGraph(source, points, params, inputMeans, { integerKernels: false }),
    wBits: [8, 4, 3],
  },
  blocked: {
    summary:
      "MatMul weights as uint4 in blocks of 32 input rows per output channel (their own scale and zero point, calibrated and searched so), run by onnxruntime's MatMulNBits; other layers per channel",
    build: (source, points, params, inputMeans) =>
      deployableGraph(source, points, params, inputMeans, { integerKernels: true }),
    wBits: [4, 3],
    weightBlock: 32,
  },
} satisfies Record<string, ExportFormatEntry>;

export type ExportFormat = keyof typeof EXPORT_FORMATS;
export const EXPORT_FORMAT_NAMES = Object.keys(EXPORT_FORMATS) as ExportFormat[];

/** The weight block size an export format calibrates with (0: per output channel). */
export function formatWeightBlock(format: ExportFormat): number {
  const entry: ExportFormatEntry = EXPORT_FORMATS[format];
  return entry.weightBlock ?? 0;
}
