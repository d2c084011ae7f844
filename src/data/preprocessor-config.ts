// preprocessor_config.json as Hugging Face's image processors read it: sizes, crop, rescale, normalization and the
// resampling filter, checked and turned into one Preprocessing record.
import { ConfigError } from '../errors.js';
import { MAX_SIDE } from '../options/values.js';

/** PIL's resampling filters, indexed by the code Hugging Face configs store in `resample`. */
export const RESAMPLE_CODES = ['nearest', 'lanczos', 'bilinear', 'bicubic', 'box', 'hamming'] as const;
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
  const side = (v: unknown, name: string) => {
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_SIDE)
      throw new ConfigError(
        `${file}: '${name}' must be a whole number of pixels in 1..${MAX_SIDE}, got ${JSON.stringify(v)}`,
        field,
      );
    return v as number;
  };
  if (typeof value === 'number') return { height: side(value, field), width: side(value, field) };
  if (typeof value === 'object' && value !== null) {
    if (value.height !== undefined && value.width !== undefined)
      return { height: side(value.height, `${field}.height`), width: side(value.width, `${field}.width`) };
    if (value.shortest_edge !== undefined) return { shortestEdge: side(value.shortest_edge, `${field}.shortest_edge`) };
  }
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
  if (height > 0 && width > 0 && finalSize && (finalSize.height !== height || finalSize.width !== width))
    throw new ConfigError(
      `${file}: its ${crop ? 'crop_size' : 'size'} makes ${finalSize.height}x${finalSize.width} images, and the model takes ${height}x${width}; give the model's size`,
      crop ? 'crop_size' : 'size',
    );
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
