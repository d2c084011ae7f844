// The calibration table and the options that shape it: what calibrate returns and the quantizer reads.
import type { QuantParams } from '../quant/scheme.js';
import type { CollectReport } from './collect.js';
import type { Observer } from './observers/registry.js';

export interface CalibrationOptions {
  wBits: number;
  aBits: number;
  observer: Observer;
  ptf: boolean;
  /** Log2 quantizer (4-bit) for softmax outputs. */
  lis: boolean;
  biasCorrection: boolean;
  batchSize: number;
  /** Quantize MatMul weights in blocks of this many input rows per output channel (0 or absent: per channel). */
  weightBlock?: number;
  /** Bytes of tensors calibration may hold beside the images (src/memory.ts); chunk sizes follow from it. */
  memoryBudget?: number;
  /** The Evol-Q code's data-free correction: weights carry their float per-channel mean and std. */
  weightCorrection?: boolean;
  /** FQ-ViT's integer LayerNorm where the LayerNorm's output point is known (QuantPoint.output). */
  integerLayerNorm?: boolean;
  /**
   * For `--start fitted`: also refit each LayerNorm input's PTF to what the LayerNorm reads, and give each
   * activation only MatMuls read a PTF fitted to its squared error (PtfFit).
   */
  ptfRefit?: boolean;
  /** Worker threads for the sample batch's statistics (default: one per core); the table is the same for any. */
  sampleThreads?: number;
}

export interface CalibrationTable {
  params: Record<string, QuantParams>;
  /** The observed float range of each activation-like point. */
  ranges: Record<string, { min: number; max: number }>;
  /** With `ptfRefit`: per LayerNorm-input point and MatMul-input point, the refitted PTF (PtfFit). */
  refittedPtf?: Record<string, QuantParams>;
  /** Bias correction: per weight point, the mean of its layer's input per input channel. */
  inputMeans?: Record<string, Float32Array>;
  /** Images per onnxruntime run and bytes fetched per image (for report.json). */
  chunks?: CollectReport;
}
