// What calibration asks of a tensor and what it gets back: the request collectStats reads and the statistics
// the observers read.
import type { UniformParams } from '../quant/scheme.js';
import type { PercentileTracker } from './observers/percentile.js';
import type { SampleSpec } from './observers/sample-statistic.js';

export interface TensorStats {
  min: number;
  max: number;
  percentile?: PercentileTracker;
  /**
   * The parameters each requested statistic of the sample batch chose (the last `batchSize` images; FQ-ViT
   * measures OMSE and PTF error on it), in the order of the request's `sample`.
   */
  sample?: UniformParams[];
  /** Per-channel sums and the count per channel, for channel means. */
  channelSum?: Float64Array;
  channelCount?: number;
}

export interface StatsRequest {
  tensor: string;
  percentile?: boolean;
  /** Statistics of the sample batch, made once the range over every image is known (a worker thread computes them). */
  sample?: readonly SampleSpec[];
  /** Channel axis for per-channel means (negative counts from the end). */
  meanAxis?: number;
}
