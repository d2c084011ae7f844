// The images a fitness is measured on: cut into batches (a fitness is the mean of their losses) and each batch into
// onnxruntime runs (pieces), whose logits are joined again before the loss.
import type { FloatTensor } from '../runtime/runner.js';
import { batchRanges, sliceBatch, type ImageBatch } from '../data/imagefolder.js';

/** Told the number of images each batch of a forward ran, as it ends (for progress on long forwards). */
export type ImagesRan = (images: number) => void;

/** A fitness and each image's term of it (the fitness is the mean over batches of their rows' mean). */
export interface Scored {
  fitness: number;
  rows: Float64Array;
}

/** The images a fitness is measured on, with their full-precision logits per batch. */
export interface ScoredImages {
  images: ImageBatch;
  ranges: [number, number][];
  /** Per batch, the image ranges of its onnxruntime runs; cached unit inputs are kept per piece, in this order. */
  pieces: [number, number][][];
  reference: FloatTensor[];
}

/** Batches of `batchSize` images, each cut into onnxruntime runs of `forwardImages`. */
export function splitBatches(
  images: number,
  batchSize: number,
  forwardImages: number,
): Pick<ScoredImages, 'ranges' | 'pieces'> {
  const ranges = [...batchRanges(images, batchSize)];
  const pieces = ranges.map(([start, end]) =>
    [...batchRanges(end - start, forwardImages)].map(([a, b]): [number, number] => [start + a, start + b]),
  );
  return { ranges, pieces };
}

/** The images of one run, as the model's input tensor. */
export function runPixels(images: ImageBatch, [start, end]: [number, number]): FloatTensor {
  const b = sliceBatch(images, start, end);
  return { data: b.data, dims: b.dims };
}

/** Tensors of consecutive images joined along the first axis (one is returned as it is). */
export function joinImages(tensors: readonly FloatTensor[]): FloatTensor {
  if (tensors.length === 1) return tensors[0];
  const data = new Float32Array(tensors.reduce((n, t) => n + t.data.length, 0));
  let offset = 0;
  for (const t of tensors) {
    data.set(t.data, offset);
    offset += t.data.length;
  }
  return { data, dims: [tensors.reduce((n, t) => n + t.dims[0], 0), ...tensors[0].dims.slice(1)] };
}
