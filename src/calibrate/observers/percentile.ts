// FQ-ViT's percentile observer: per batch the extreme quantiles, smoothed over batches.

/** The q-quantile of values by selection (linear interpolation between order statistics, as torch.quantile). */
export function quantile(values: Float32Array, q: number): number {
  const data = Float32Array.from(values);
  const position = q * (data.length - 1);
  const lower = Math.floor(position);
  const a = select(data, lower);
  if (lower === position) return a;
  const b = select(data, lower + 1);
  return a + (b - a) * (position - lower);
}

function select(data: Float32Array, k: number): number {
  let lo = 0;
  let hi = data.length - 1;
  while (lo < hi) {
    const pivot = data[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (data[i] < pivot) i++;
      while (data[j] > pivot) j--;
      if (i <= j) {
        const t = data[i];
        data[i] = data[j];
        data[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return data[k];
  }
  return data[k];
}

/** FQ-ViT's percentile observer: per batch the 0.99999 quantiles, smoothed with momentum 0.01. */
export class PercentileTracker {
  static readonly PERCENTILE = 0.99999;
  static readonly SIGMA = 0.01;
  min = 0;
  max = 0;
  private started = false;

  update(values: Float32Array): void {
    const hi = quantile(values, PercentileTracker.PERCENTILE);
    const lo = quantile(values, 1 - PercentileTracker.PERCENTILE);
    if (!this.started) {
      this.max = Math.max(hi, 0);
      this.min = Math.min(lo, 0);
      this.started = true;
    } else {
      this.max += PercentileTracker.SIGMA * (hi - this.max);
      this.min += PercentileTracker.SIGMA * (lo - this.min);
    }
  }
}
