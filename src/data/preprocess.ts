// Preprocessing as transformers.js reads it from preprocessor_config.json, applied with sharp.
import sharp, { type OutputInfo } from 'sharp';
import { ConfigError, DataError } from '../errors.js';

export type Resample = 'nearest' | 'linear' | 'cubic' | 'lanczos3';

export interface Preprocessing {
  channels: number;
  /** The model's input height and width: what every image becomes. */
  height: number;
  width: number;
  /** Resize target before any crop; undefined when images are used at their size. */
  resize?: { height: number; width: number } | { shortestEdge: number };
  crop?: { height: number; width: number };
  rescale: number;
  mean: number[];
  std: number[];
  resample: Resample;
}

// PIL's resampling codes as Hugging Face configs store them; box and hamming have no sharp kernel, linear is nearest.
const RESAMPLE: Record<number, Resample> = { 0: 'nearest', 1: 'lanczos3', 2: 'linear', 3: 'cubic', 4: 'linear', 5: 'linear' };

type SizeField = number | { height?: number; width?: number; shortest_edge?: number } | undefined;

function readSize(value: SizeField, field: string, file: string): { height: number; width: number } | { shortestEdge: number } | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return { height: value, width: value };
  if (value.height && value.width) return { height: value.height, width: value.width };
  if (value.shortest_edge) return { shortestEdge: value.shortest_edge };
  throw new ConfigError(`${file}: '${field}' must be a number, {height, width} or {shortest_edge}`, field);
}

function readVector(value: unknown, field: string, file: string, channels: number, fallback: number): number[] {
  if (value === undefined || value === null) return new Array(channels).fill(fallback);
  const list = typeof value === 'number' ? [value] : value;
  if (!Array.isArray(list) || list.some((v) => typeof v !== 'number' || !Number.isFinite(v))) throw new ConfigError(`${file}: '${field}' must be a list of finite numbers`, field);
  if (list.length === 1) return new Array(channels).fill(list[0]);
  if (list.length !== channels) throw new ConfigError(`${file}: '${field}' has ${list.length} values, the model takes ${channels} channels`, field);
  return list as number[];
}

/**
 * Reads a preprocessor_config.json object. `modelSize` is the model's static input [C, H, W] where known
 * (a dimension is -1 where the model leaves it symbolic).
 */
export function parsePreprocessorConfig(config: Record<string, unknown>, file: string, modelSize: [number, number, number]): Preprocessing {
  let [channels, height, width] = modelSize;
  if (channels <= 0) {
    const mean = config.image_mean;
    channels = typeof config.channels === 'number' ? config.channels : Array.isArray(mean) ? mean.length : 3;
  }
  const size = readSize(config.size as SizeField, 'size', file);
  const cropSize = readSize(config.crop_size as SizeField, 'crop_size', file);
  let resize: Preprocessing['resize'];
  let crop: Preprocessing['crop'];
  if (config.do_resize !== false && size) {
    const cropPct = typeof config.crop_pct === 'number' ? config.crop_pct : undefined;
    if (cropPct && 'height' in size) {
      // timm-style evaluation: resize the short side to size / crop_pct, then center-crop to size.
      resize = { shortestEdge: Math.floor(size.height / cropPct) };
      crop = { height: size.height, width: size.width };
    } else {
      resize = size;
    }
  }
  if (config.do_center_crop && cropSize) {
    if (!('height' in cropSize)) throw new ConfigError(`${file}: 'crop_size' must give height and width`, 'crop_size');
    crop = cropSize;
  }
  const finalSize = crop ?? (resize && 'height' in resize ? resize : undefined);
  if (height <= 0 || width <= 0) {
    const fromConfig = finalSize ?? (size && 'height' in size ? size : undefined);
    if (!fromConfig) throw new ConfigError(`${file}: the model's input size is dynamic and the config gives no size`, 'size');
    height = fromConfig.height;
    width = fromConfig.width;
  }
  const resampleCode = typeof config.resample === 'number' ? config.resample : 2;
  const rescale = config.do_rescale === false ? 1 : config.rescale_factor ?? 1 / 255;
  if (typeof rescale !== 'number' || !Number.isFinite(rescale) || rescale <= 0) {
    throw new ConfigError(`${file}: 'rescale_factor' must be a positive number, got ${JSON.stringify(config.rescale_factor)}`, 'rescale_factor');
  }
  const std = config.do_normalize === false ? new Array(channels).fill(1) : readVector(config.image_std, 'image_std', file, channels, 0.5);
  if (std.some((v) => v === 0)) throw new ConfigError(`${file}: 'image_std' has a zero, which would divide every pixel by 0: [${std.join(', ')}]`, 'image_std');
  return {
    channels, height, width, resize, crop, rescale, std,
    mean: config.do_normalize === false ? new Array(channels).fill(0) : readVector(config.image_mean, 'image_mean', file, channels, 0.5),
    resample: RESAMPLE[resampleCode] ?? 'linear',
  };
}

/** Decodes one image file into `out` at `offset` as C×H×W float32 values. */
export async function decodeImageInto(file: string, prep: Preprocessing, out: Float32Array, offset: number): Promise<void> {
  let pixels: Buffer;
  let info: OutputInfo;
  try {
    let image = sharp(file, { failOn: 'error' });
    if (prep.resize) {
      const r = prep.resize;
      image = 'shortestEdge' in r
        ? image.resize({ width: r.shortestEdge, height: r.shortestEdge, fit: 'outside', kernel: prep.resample })
        : image.resize({ width: r.width, height: r.height, fit: 'fill', kernel: prep.resample });
    }
    if (prep.crop) {
      // Materialize the resize first so the crop sees the resized size.
      const resized = await image.toBuffer({ resolveWithObject: true });
      const { width = 0, height = 0 } = resized.info;
      const top = Math.max(0, Math.round((height - prep.crop.height) / 2));
      const left = Math.max(0, Math.round((width - prep.crop.width) / 2));
      image = sharp(resized.data).extract({ left, top, width: Math.min(prep.crop.width, width), height: Math.min(prep.crop.height, height) });
    }
    image = prep.channels === 1 ? image.grayscale() : image.removeAlpha().toColourspace('srgb');
    ({ data: pixels, info } = await image.raw().toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw new DataError(`${file}: cannot decode image (${(err as Error).message.split('\n')[0]})`, file);
  }
  if (info.width !== prep.width || info.height !== prep.height) {
    throw new DataError(`${file}: image is ${info.width}x${info.height} after preprocessing, the model takes ${prep.width}x${prep.height} (set do_resize in preprocessor_config.json)`, file);
  }
  const plane = prep.height * prep.width;
  const stride = info.channels;
  for (let c = 0; c < prep.channels; c++) {
    const base = offset + c * plane;
    const source = Math.min(c, stride - 1);
    for (let i = 0; i < plane; i++) out[base + i] = (pixels[i * stride + source] * prep.rescale - prep.mean[c]) / prep.std[c];
  }
}
