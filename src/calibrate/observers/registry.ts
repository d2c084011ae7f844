// Which activation observers there are: a new one is one entry here, and every list of them follows.
import type { UniformParams } from '../../quant/scheme.js';
import type { TensorStats } from '../tensor-stats.js';
import { minmaxParams } from './minmax.js';
import type { SampleSpec } from './sample-statistic.js';

/**
 * The activation observer registry: a name → the statistics it needs collected and how it turns them into a
 * quantizer. `--observer`'s choices, help and errors come from here; a new observer is one entry.
 */
export const OBSERVER_REGISTRY = {
  minmax: {
    summary: 'the observed min and max',
    needs: {},
    params: (s: TensorStats, bits: number) => minmaxParams(s.min, s.max, bits),
  },
  percentile: {
    summary: 'the 0.00001 and 0.99999 quantiles per batch, smoothed with momentum 0.01 (FQ-ViT)',
    needs: { percentile: true },
    params: (s: TensorStats, bits: number) => minmaxParams(s.percentile!.min, s.percentile!.max, bits),
  },
  omse: {
    summary: 'the min-max range clipped to the least squared error on the last batch (FQ-ViT)',
    needs: { sample: true },
    sample: 'omse',
    params: (s: TensorStats) => s.sample![0],
  },
} satisfies Record<
  string,
  {
    summary: string;
    needs: { sample?: boolean; percentile?: boolean };
    /** With needs.sample: the statistic of the sample batch, made from the range over every image. */
    sample?: SampleSpec['kind'];
    params: (stats: TensorStats, bits: number) => UniformParams;
  }
>;

export type Observer = keyof typeof OBSERVER_REGISTRY;
export const OBSERVERS = Object.keys(OBSERVER_REGISTRY) as Observer[];
