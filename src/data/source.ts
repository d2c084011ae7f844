// Image sources: decoded once and held (calibration) or decoded batch by batch while the model runs (evaluation).
import { decodeImages, sliceBatch, type ImageBatch, type ImageItem } from './imagefolder.js';
import type { Preprocessing } from './preprocess.js';

export interface ImageSource {
  readonly count: number;
  batch(start: number, end: number): Promise<ImageBatch>;
}

export function decodedSource(images: ImageBatch): ImageSource {
  return { count: images.dims[0], batch: async (start, end) => sliceBatch(images, start, end) };
}

export function fileSource(items: readonly ImageItem[], prep: Preprocessing): ImageSource {
  return { count: items.length, batch: (start, end) => decodeImages(items.slice(start, end), prep) };
}
