// What a statistic of the sample batch is, and how one is named so it can be made where the sample is.
import type { UniformParams } from '../../quant/scheme.js';

/** A statistic of the sample batch, fed its tensors chunk by chunk (rows of `channels`, the last axis). */
export interface SampleStatistic {
  add(values: Float32Array, channels: number): void;
  params(): UniformParams;
}

/**
 * A statistic of the sample batch by name, so it can be made where the sample is (a worker thread): OMSE,
 * FQ-ViT's PTF, or PTF refitted to what the LayerNorm reads.
 */
export interface SampleSpec {
  kind: 'omse' | 'ptf' | 'ptf-fit';
  bits: number;
  /** 'ptf-fit': factors per octave (PtfFit). */
  steps?: number;
  /** 'ptf-fit': how its rows weigh (PtfFit). */
  rows?: PtfRows;
}

/** How PtfFit weighs a row's error: divided by the row's variance, as a LayerNorm reads it, or each alike. */
export type PtfRows = 'layernorm' | 'plain';
