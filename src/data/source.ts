// Image sources: decoded once and held (calibration) or decoded batch by batch while the model runs (evaluation).
import { decodeImages, sliceBatch, type ImageBatch, type ImageItem, type SkippedImage } from './imagefolder.js';
import type { Preprocessing } from './preprocessor-config.js';

export interface ImageSource {
  /** Images listed; a batch may hold fewer where bad images are skipped. */
  readonly count: number;
  batch(start: number, end: number): Promise<ImageBatch>;
}

export function decodedSource(images: ImageBatch): ImageSource {
  return { count: images.dims[0], batch: async (start, end) => sliceBatch(images, start, end) };
}

/** Images decoded as they are needed; with `skipped`, files that do not decode are listed there and left out. */
export function fileSource(items: readonly ImageItem[], prep: Preprocessing, skipped?: SkippedImage[]): ImageSource {
  return {
    count: items.length,
    batch: (start, end) => decodeImages(items.slice(start, end), prep, undefined, skipped),
  };
}
