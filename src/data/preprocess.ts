// Preprocessing as Hugging Face's image processors define it in preprocessor_config.json, with their PIL results:
// sharp only decodes; resizing is PIL's own resampling (pil-resample.ts), crop and normalization follow
// transformers' image_transforms.py. test/unit/data/preprocess-reference.test.ts holds it to PIL + numpy fixtures.
import { NotRegularFileError, readRegularFile } from '../regular-file.js';
import sharp from 'sharp';
import { DataError } from '../errors.js';
import { resizePixels, type Pixels } from './pil-resample.js';
import type { Preprocessing } from './preprocessor-config.js';

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
  const bytes = readRegularFile(file);
  // sharp renders SVG (and would fetch what it links to); a photo named .png that is a drawing is not an image here.
  if ((await sharp(bytes).metadata()).format === 'svg') throw new Error('is an SVG drawing, not a raster image');
  const { data, info } = await sharp(bytes, { failOn: 'error', autoOrient: true, ignoreIcc: true })
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

/** The resize the config asks for; `shortestEdge` keeps the aspect ratio as transformers does. */
function resizeAsConfigured(image: Pixels, prep: Preprocessing): Pixels {
  const r = prep.resize;
  if (!r) return image;
  if (!('shortestEdge' in r)) return resizePixels(image, r.width, r.height, prep.resample);
  const [short, long] = image.width <= image.height ? [image.width, image.height] : [image.height, image.width];
  const longSide = Math.trunc((r.shortestEdge * long) / short);
  return image.width <= image.height
    ? resizePixels(image, r.shortestEdge, longSide, prep.resample)
    : resizePixels(image, longSide, r.shortestEdge, prep.resample);
}

/** Writes interleaved pixels into `out` at `offset` as C×H×W float32, rescaled and normalized. */
function writePlanes(image: Pixels, prep: Preprocessing, out: Float32Array, offset: number): void {
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
    if (err instanceof NotRegularFileError)
      throw new DataError(`${file}: ${err.message}, not an image file; remove it`, file);
    throw new DataError(`${file}: cannot decode image (${(err as Error).message.split('\n')[0]})`, file);
  }
  if (prep.channels === 1) image = toGray(image);
  image = resizeAsConfigured(image, prep);
  if (prep.crop) image = centerCrop(image, prep.crop.width, prep.crop.height);
  if (image.width !== prep.width || image.height !== prep.height) {
    throw new DataError(
      `${file}: image is ${image.width}x${image.height} after preprocessing, the model takes ${prep.width}x${prep.height} (set do_resize in preprocessor_config.json)`,
      file,
    );
  }
  writePlanes(image, prep, out, offset);
}
