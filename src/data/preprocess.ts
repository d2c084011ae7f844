// Preprocessing as Hugging Face's image processors define it in preprocessor_config.json, with their PIL results:
// sharp only decodes; resizing is PIL's own resampling (ported below), crop and normalization follow
// transformers' image_transforms.py. test/unit/data/preprocess-reference.test.ts holds it to PIL + numpy fixtures.
import sharp from 'sharp';
import { ConfigError, DataError } from '../errors.js';

/** PIL's resampling filters, indexed by the code Hugging Face configs store in `resample`. */
const RESAMPLE_CODES = ['nearest', 'lanczos', 'bilinear', 'bicubic', 'box', 'hamming'] as const;
export type Resample = (typeof RESAMPLE_CODES)[number];

export interface Preprocessing {
  channels: number;
  /** The model's input height and width: what every image becomes. */
  height: number;
  width: number;
  /**
   * Resize target before any crop; undefined when images are used at their size. `shortestEdge` keeps the aspect
   * ratio: the long side becomes ⌊shortestEdge · long / short⌋, as transformers' get_resize_output_image_size.
   */
  resize?: { height: number; width: number } | { shortestEdge: number };
  /** Center crop at offset ⌊(size − crop) / 2⌋, zero-padded where the image is smaller. */
  crop?: { height: number; width: number };
  rescale: number;
  mean: number[];
  std: number[];
  resample: Resample;
}

type SizeField = number | { height?: number; width?: number; shortest_edge?: number } | undefined;
type Size = { height: number; width: number } | { shortestEdge: number };

function readSize(value: SizeField, field: string, file: string): Size | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return { height: value, width: value };
  if (value.height && value.width) return { height: value.height, width: value.width };
  if (value.shortest_edge) return { shortestEdge: value.shortest_edge };
  throw new ConfigError(`${file}: '${field}' must be a number, {height, width} or {shortest_edge}`, field);
}

function readVector(value: unknown, field: string, file: string, channels: number, fallback: number): number[] {
  if (value === undefined || value === null) return new Array(channels).fill(fallback);
  const list = typeof value === 'number' ? [value] : value;
  if (!Array.isArray(list) || list.some((v) => typeof v !== 'number' || !Number.isFinite(v)))
    throw new ConfigError(`${file}: '${field}' must be a list of finite numbers`, field);
  if (list.length === 1) return new Array(channels).fill(list[0]);
  if (list.length !== channels)
    throw new ConfigError(`${file}: '${field}' has ${list.length} values, the model takes ${channels} channels`, field);
  return list as number[];
}

function readResample(value: unknown, file: string): Resample {
  if (value === undefined || value === null) return 'bilinear';
  const filter = typeof value === 'number' ? RESAMPLE_CODES[value] : undefined;
  if (!filter)
    throw new ConfigError(
      `${file}: unsupported 'resample' ${JSON.stringify(value)}. Should be one of: ${RESAMPLE_CODES.map((name, code) => `${code} (${name})`).join(', ')}`,
      'resample',
    );
  return filter;
}

/** ConvNextImageProcessor crops inside its resize and has no center-crop step of its own. */
const isConvNext = (config: Record<string, unknown>) =>
  /^ConvNext/.test(String(config.image_processor_type ?? config.feature_extractor_type ?? ''));

/** Resize and crop as the processor named in the config does them; `size` is the parsed `size` field. */
function resizeAndCrop(
  config: Record<string, unknown>,
  size: Size,
  file: string,
): { resize: Size; crop?: { height: number; width: number } } {
  const convNext = isConvNext(config);
  const cropPct = typeof config.crop_pct === 'number' ? config.crop_pct : undefined;
  if (cropPct !== undefined && !(cropPct > 0 && cropPct <= 1))
    throw new ConfigError(`${file}: 'crop_pct' must be in (0, 1], got ${cropPct}`, 'crop_pct');
  if ('shortestEdge' in size) {
    const edge = size.shortestEdge;
    // ConvNextImageProcessor (ResNet, ConvNeXt): short side to edge / crop_pct, crop edge × edge; from 384 up it warps.
    if (convNext && edge >= 384) return { resize: { height: edge, width: edge } };
    const pct = cropPct ?? (convNext ? 224 / 256 : undefined);
    if (pct !== undefined)
      return { resize: { shortestEdge: Math.floor(edge / pct) }, crop: { height: edge, width: edge } };
    return { resize: size };
  }
  if (cropPct === undefined) return { resize: size };
  // timm-style {height, width} with crop_pct (PoolFormer): a square keeps the aspect ratio, else both sides scale.
  const resize =
    size.height === size.width
      ? { shortestEdge: Math.floor(size.height / cropPct) }
      : { height: Math.floor(size.height / cropPct), width: Math.floor(size.width / cropPct) };
  return { resize, crop: { height: size.height, width: size.width } };
}

/**
 * Reads a preprocessor_config.json object. `modelSize` is the model's static input [C, H, W] where known
 * (a dimension is -1 where the model leaves it symbolic).
 */
export function parsePreprocessorConfig(
  config: Record<string, unknown>,
  file: string,
  modelSize: [number, number, number],
): Preprocessing {
  let [channels, height, width] = modelSize;
  if (channels <= 0) {
    const mean = config.image_mean;
    channels = typeof config.channels === 'number' ? config.channels : Array.isArray(mean) ? mean.length : 3;
  }
  const size = readSize(config.size as SizeField, 'size', file);
  const cropSize = readSize(config.crop_size as SizeField, 'crop_size', file);
  let resize: Preprocessing['resize'];
  let crop: Preprocessing['crop'];
  if (config.do_resize !== false && size) ({ resize, crop } = resizeAndCrop(config, size, file));
  if (config.do_center_crop && cropSize && !isConvNext(config)) {
    if (!('height' in cropSize)) throw new ConfigError(`${file}: 'crop_size' must give height and width`, 'crop_size');
    crop = cropSize;
  }
  const finalSize = crop ?? (resize && 'height' in resize ? resize : undefined);
  if (height <= 0 || width <= 0) {
    const fromConfig = finalSize ?? (size && 'height' in size ? size : undefined);
    if (!fromConfig)
      throw new ConfigError(`${file}: the model's input size is dynamic and the config gives no size`, 'size');
    height = fromConfig.height;
    width = fromConfig.width;
  }
  const rescale = config.do_rescale === false ? 1 : (config.rescale_factor ?? 1 / 255);
  if (typeof rescale !== 'number' || !Number.isFinite(rescale) || rescale <= 0) {
    throw new ConfigError(
      `${file}: 'rescale_factor' must be a positive number, got ${JSON.stringify(config.rescale_factor)}`,
      'rescale_factor',
    );
  }
  const std =
    config.do_normalize === false
      ? new Array(channels).fill(1)
      : readVector(config.image_std, 'image_std', file, channels, 0.5);
  if (std.some((v) => v === 0))
    throw new ConfigError(
      `${file}: 'image_std' has a zero, which would divide every pixel by 0: [${std.join(', ')}]`,
      'image_std',
    );
  return {
    channels,
    height,
    width,
    resize,
    crop,
    rescale,
    std,
    mean:
      config.do_normalize === false
        ? new Array(channels).fill(0)
        : readVector(config.image_mean, 'image_mean', file, channels, 0.5),
    resample: readResample(config.resample, file),
  };
}

/** Interleaved 8-bit pixels, height × width × channels. */
interface Pixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

// --- PIL's resampling (libImaging/Resample.c): a separable filter whose support grows with the shrink factor,
// weights in 22-bit fixed point, horizontal pass first, each pass rounded and clipped to uint8.

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
function resizePixels(image: Pixels, width: number, height: number, resample: Resample): Pixels {
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

/** transformers' center_crop: offset ⌊(size − crop) / 2⌋; where the image is smaller it is padded with zeros. */
function centerCrop(image: Pixels, width: number, height: number): Pixels {
  if (width === image.width && height === image.height) return image;
  const C = image.channels;
  const top = Math.floor((image.height - height) / 2);
  const left = Math.floor((image.width - width) / 2);
  const data = new Uint8Array(width * height * C);
  const x0 = Math.max(0, -left);
  const x1 = Math.min(width, image.width - left);
  for (let y = Math.max(0, -top); y < Math.min(height, image.height - top); y++) {
    const from = ((y + top) * image.width + left + x0) * C;
    data.set(image.data.subarray(from, from + (x1 - x0) * C), (y * width + x0) * C);
  }
  return { data, width, height, channels: C };
}

/** PIL's convert("L"): ITU-R 601-2 luma in 16-bit fixed point. */
function toGray(image: Pixels): Pixels {
  const n = image.width * image.height;
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const [r, g, b] = [image.data[i * 3], image.data[i * 3 + 1], image.data[i * 3 + 2]];
    data[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
  }
  return { data, width: image.width, height: image.height, channels: 1 };
}

/** Decodes as transformers' load_image: EXIF orientation applied, ICC profile ignored (PIL's raw values), alpha dropped, RGB. */
async function decodeRgb(file: string): Promise<Pixels> {
  const { data, info } = await sharp(file, { failOn: 'error', autoOrient: true, ignoreIcc: true })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || data.length !== info.width * info.height * 3)
    throw new Error(
      `decoded to ${info.channels} channels of ${data.length / (info.width * info.height * info.channels)} bytes, expected 8-bit RGB`,
    );
  return { data, width: info.width, height: info.height, channels: 3 };
}

/** Decodes one image file into `out` at `offset` as C×H×W float32 values. */
export async function decodeImageInto(
  file: string,
  prep: Preprocessing,
  out: Float32Array,
  offset: number,
): Promise<void> {
  let image: Pixels;
  try {
    image = await decodeRgb(file);
  } catch (err) {
    throw new DataError(`${file}: cannot decode image (${(err as Error).message.split('\n')[0]})`, file);
  }
  if (prep.channels === 1) image = toGray(image);
  if (prep.resize) {
    const r = prep.resize;
    if ('shortestEdge' in r) {
      const [short, long] = image.width <= image.height ? [image.width, image.height] : [image.height, image.width];
      const longSide = Math.trunc((r.shortestEdge * long) / short);
      image =
        image.width <= image.height
          ? resizePixels(image, r.shortestEdge, longSide, prep.resample)
          : resizePixels(image, longSide, r.shortestEdge, prep.resample);
    } else {
      image = resizePixels(image, r.width, r.height, prep.resample);
    }
  }
  if (prep.crop) image = centerCrop(image, prep.crop.width, prep.crop.height);
  if (image.width !== prep.width || image.height !== prep.height) {
    throw new DataError(
      `${file}: image is ${image.width}x${image.height} after preprocessing, the model takes ${prep.width}x${prep.height} (set do_resize in preprocessor_config.json)`,
      file,
    );
  }
  const plane = prep.height * prep.width;
  const stride = image.channels;
  const value = new Float32Array(256);
  for (let c = 0; c < prep.channels; c++) {
    // transformers: rescale in float64 then cast to float32, normalize in float32.
    const mean = Math.fround(prep.mean[c]);
    const std = Math.fround(prep.std[c]);
    for (let v = 0; v < 256; v++) value[v] = Math.fround(Math.fround(Math.fround(v * prep.rescale) - mean) / std);
    const base = offset + c * plane;
    const source = Math.min(c, stride - 1);
    for (let i = 0; i < plane; i++) out[base + i] = value[image.data[i * stride + source]];
  }
}
