// The sample statistics by kind: a SampleSpec's name → its class.
import { OmseAccumulator } from './omse.js';
import { PtfAccumulator } from './ptf.js';
import { PtfFit } from './ptf-fit.js';
import type { PtfRows, SampleSpec, SampleStatistic } from './sample-statistic.js';

const SAMPLE_STATISTICS: Record<
  SampleSpec['kind'],
  new (min: number, max: number, bits: number, steps?: number, rows?: PtfRows) => SampleStatistic
> = {
  omse: OmseAccumulator,
  ptf: PtfAccumulator,
  'ptf-fit': PtfFit,
};

/** The statistic `spec` names, over the range [min, max] observed on every image. */
export function sampleStatistic(spec: SampleSpec, min: number, max: number): SampleStatistic {
  return new SAMPLE_STATISTICS[spec.kind](min, max, spec.bits, spec.steps, spec.rows);
}
