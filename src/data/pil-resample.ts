// PIL's resampling (libImaging/Resample.c), ported so resized pixels match PIL's: a separable filter whose support
// grows with the shrink factor, weights in 22-bit fixed point, horizontal pass first, each pass rounded and clipped
// to uint8.
import type { Resample } from './preprocessor-config.js';

/** Interleaved 8-bit pixels, height × width × channels. */
export interface Pixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

interface Filter {
  support: number;
  weight: (x: number) => number;
}

const sinc = (x: number) => (x === 0 ? 1 : Math.sin(x * Math.PI) / (x * Math.PI));
const FILTERS: Record<Exclude<Resample, 'nearest'>, Filter> = {
  box: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: { support: 1, weight: (x) => Math.max(0, 1 - Math.abs(x)) },
  hamming: {
    support: 1,
    weight: (x) => {
      x = Math.abs(x);
      return x >= 1 ? 0 : sinc(x) * (0.54 + 0.46 * Math.cos(x * Math.PI));
    },
  },
  // Keys' cubic convolution with a = -0.5.
  bicubic: {
    support: 2,
    weight: (x) => {
      x = Math.abs(x);
      if (x < 1) return (1.5 * x - 2.5) * x * x + 1;
      return x < 2 ? (((x - 5) * x + 8) * x - 4) * -0.5 : 0;
    },
  },
  lanczos: { support: 3, weight: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

const PRECISION_BITS = 22;

/** Each output index's first input index, tap count and fixed-point weights (precompute_coeffs + normalize_coeffs_8bpc). */
function resampleWeights(inSize: number, outSize: number, filter: Filter) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const weights = new Int32Array(outSize * taps);
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const raw = new Float64Array(taps);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const n = Math.min(inSize, Math.trunc(center + support + 0.5)) - lo;
    let total = 0;
    for (let k = 0; k < n; k++) total += raw[k] = filter.weight((k + lo - center + 0.5) / filterScale);
    for (let k = 0; k < n; k++) {
      const w = (total !== 0 ? raw[k] / total : raw[k]) * (1 << PRECISION_BITS);
      weights[i * taps + k] = Math.trunc(w < 0 ? w - 0.5 : w + 0.5);
    }
    first[i] = lo;
    count[i] = n;
  }
  return { weights, first, count, taps };
}

const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;
const clip8 = (sum: number) => {
  const value = Math.floor(sum / ONE);
  return value < 0 ? 0 : value > 255 ? 255 : value;
};

/** PIL's horizontal pass (ImagingResampleHorizontal_8bpc). */
function resampleRows(image: Pixels, width: number, filter: Filter): Pixels {
  const { data: src, width: inWidth, height, channels: C } = image;
  const { weights, first, count, taps } = resampleWeights(inWidth, width, filter);
  const data = new Uint8Array(width * height * C);
  for (let y = 0; y < height; y++) {
    const row = y * inWidth * C;
    for (let x = 0; x < width; x++) {
      const w0 = x * taps;
      let p = row + first[x] * C;
      const at = (y * width + x) * C;
      if (C === 3) {
        let r = HALF,
          g = HALF,
          b = HALF;
        for (let k = 0; k < count[x]; k++, p += 3) {
          const w = weights[w0 + k];
          r += src[p] * w;
          g += src[p + 1] * w;
          b += src[p + 2] * w;
        }
        data[at] = clip8(r);
        data[at + 1] = clip8(g);
        data[at + 2] = clip8(b);
      } else {
        for (let c = 0; c < C; c++) {
          let sum = HALF;
          for (let k = 0, q = p + c; k < count[x]; k++, q += C) sum += src[q] * weights[w0 + k];
          data[at + c] = clip8(sum);
        }
      }
    }
  }
  return { data, width, height, channels: C };
}

/** PIL's vertical pass (ImagingResampleVertical_8bpc), accumulated a whole row at a time. */
function resampleColumns(image: Pixels, height: number, filter: Filter): Pixels {
  const { data: src, width, height: inHeight, channels: C } = image;
  const { weights, first, count, taps } = resampleWeights(inHeight, height, filter);
  const rowLength = width * C;
  const data = new Uint8Array(rowLength * height);
  const sums = new Float64Array(rowLength);
  for (let y = 0; y < height; y++) {
    sums.fill(HALF);
    for (let k = 0; k < count[y]; k++) {
      const w = weights[y * taps + k];
      const row = (first[y] + k) * rowLength;
      for (let j = 0; j < rowLength; j++) sums[j] += src[row + j] * w;
    }
    for (let j = 0; j < rowLength; j++) data[y * rowLength + j] = clip8(sums[j]);
  }
  return { data, width, height, channels: C };
}

/** PIL's NEAREST (ImagingScaleAffine): source index ⌊(i + 0.5) · in / out⌋, accumulated as PIL does. */
function nearestIndices(inSize: number, outSize: number): Int32Array {
  const scale = inSize / outSize;
  const index = new Int32Array(outSize);
  for (let i = 0, at = scale * 0.5; i < outSize; i++, at += scale) index[i] = Math.min(inSize - 1, Math.trunc(at));
  return index;
}

/** Image.resize((width, height), resample) with reducing_gap=None, as transformers' resize calls it. */
export function resizePixels(image: Pixels, width: number, height: number, resample: Resample): Pixels {
  if (width === image.width && height === image.height) return image;
  const C = image.channels;
  if (resample === 'nearest') {
    const xs = nearestIndices(image.width, width);
    const ys = nearestIndices(image.height, height);
    const data = new Uint8Array(width * height * C);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++)
        data.set(
          image.data.subarray((ys[y] * image.width + xs[x]) * C, (ys[y] * image.width + xs[x] + 1) * C),
          (y * width + x) * C,
        );
    }
    return { data, width, height, channels: C };
  }
  const filter = FILTERS[resample];
  const rows = width !== image.width ? resampleRows(image, width, filter) : image;
  return height !== rows.height ? resampleColumns(rows, height, filter) : rows;
}
