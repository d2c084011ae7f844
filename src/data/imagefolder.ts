// ImageFolder datasets (root/<class>/<image>): listing, class indices, deterministic subsets, decoding. Unlabeled
// image sets are listed in image-list.ts.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, extname } from 'node:path';
import { DataError, ConfigError } from '../errors.js';
import { decodeImageInto } from './preprocess.js';
import type { Preprocessing } from './preprocessor-config.js';
import type { Rng } from '../rng.js';
import type { Progress } from '../progress.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp']);

/** Whether a file name has an image extension evolq decodes. */
export const isImage = (file: string) => IMAGE_EXTENSIONS.has(extname(file).toLowerCase());

export interface ImageItem {
  file: string;
  /** The class index; UNLABELED for an image of an unlabeled set. */
  label: number;
}

/** The label of an image that has none (calibration images need none). */
export const UNLABELED = -1;

export interface ImageFolder {
  root: string;
  /** Class names in class-index order; none for an unlabeled set. */
  classNames: string[];
  items: ImageItem[];
  /** Whether the images have class labels (an ImageFolder whose class folders are the model's classes). */
  labeled: boolean;
}

const normalizeLabel = (name: string) =>
  name
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');

/** Whether `path` is a folder; a link that leads nowhere or in a loop is an error that names it. */
function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataError(
      `${path}: ${code === 'ELOOP' ? 'a link that leads back to itself' : code === 'ENOENT' ? 'a link that leads nowhere' : `cannot be read (${code})`}; remove it`,
      path,
    );
  }
}

/**
 * Lists an ImageFolder. Class indices come from `labels` (id2label names in index order) when given,
 * else from sorted folder names, as torchvision does.
 */
export function listImageFolder(root: string, labels?: readonly string[]): ImageFolder {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new DataError(`${root}: no such image folder`, root);
  let entries: string[];
  try {
    entries = readdirSync(root).sort();
  } catch (err) {
    throw new DataError(`${root}: cannot read image folder (${(err as Error).message})`, root);
  }
  const classDirs = entries.filter((e) => !e.startsWith('.') && isFolder(join(root, e)));
  if (classDirs.length === 0) throw new DataError(`${root}: no class folders (expected ${root}/<class>/<image>)`, root);
  let indexOf: (dir: string) => number;
  let classNames: string[];
  if (labels && labels.length) {
    const exact = new Map(labels.map((l, i) => [l, i]));
    const loose = new Map(labels.map((l, i) => [normalizeLabel(l), i]));
    indexOf = (dir) => exact.get(dir) ?? loose.get(normalizeLabel(dir)) ?? -1;
    classNames = [...labels];
  } else {
    indexOf = (dir) => classDirs.indexOf(dir);
    classNames = classDirs;
  }
  const items: ImageItem[] = [];
  for (const dir of classDirs) {
    const label = indexOf(dir);
    if (label < 0) {
      const shown = labels!.slice(0, 10).join(', ') + (labels!.length > 10 ? ', …' : '');
      throw new DataError(
        `${join(root, dir)}: class folder '${dir}' matches no id2label entry of the model (${shown})`,
        join(root, dir),
      );
    }
    const files = readdirSync(join(root, dir))
      .filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase()))
      .sort();
    for (const f of files) items.push({ file: join(root, dir, f), label });
  }
  if (items.length === 0)
    throw new DataError(`${root}: no images (.jpg, .jpeg, .png, .webp) in its class folders`, root);
  return { root, classNames, items, labeled: true };
}

/**
 * Exactly `limit` images (or all there are), spread over the classes: each class's first images in sorted file
 * order, taken one class at a time in turn (a class with fewer images leaves its share to the others); returned in
 * the folder's order.
 */
export function limitPerClass(folder: ImageFolder, limit: number): ImageItem[] {
  const byClass = new Map<number, ImageItem[]>();
  for (const item of folder.items) {
    const items = byClass.get(item.label);
    if (items) items.push(item);
    else byClass.set(item.label, [item]);
  }
  const chosen = new Set<ImageItem>();
  for (let round = 0; chosen.size < limit; round++) {
    let took = false;
    for (const items of byClass.values()) {
      if (chosen.size >= limit || round >= items.length) continue;
      chosen.add(items[round]);
      took = true;
    }
    if (!took) break;
  }
  return folder.items.filter((item) => chosen.has(item));
}

/**
 * Two disjoint random draws (calibration, holdout) from a folder, with the seeded generator; `holdoutFlag`
 * names the option that sized the second draw, for the error when the folder is too small.
 */
export function drawSplits(
  folder: ImageFolder,
  calibSize: number,
  holdout: number,
  rng: Rng,
  holdoutFlag = '--holdout',
): { calibration: ImageItem[]; holdout: ImageItem[] } {
  const total = folder.items.length;
  if (calibSize + holdout > total) {
    throw new ConfigError(
      `--calib-size ${calibSize} plus ${holdoutFlag} ${holdout} is more than the ${total} images in ${folder.root}`,
      '--calib-size',
    );
  }
  const order = rng.permutation(total);
  return {
    calibration: order.slice(0, calibSize).map((i) => folder.items[i]),
    holdout: order.slice(calibSize, calibSize + holdout).map((i) => folder.items[i]),
  };
}

/** Decoded images, N×C×H×W float32, with their labels. */
export interface ImageBatch {
  data: Float32Array;
  dims: [number, number, number, number];
  labels: Int32Array;
}

/** An image left out with --skip-bad-images, and why. */
export interface SkippedImage {
  file: string;
  reason: string;
}

/**
 * Decodes images with a bounded number in flight; `onDone` sees the count so far. A file that does not
 * decode is an error naming it, unless `skipped` is given: then it is listed there and left out of the batch.
 */
export async function decodeImages(
  items: readonly ImageItem[],
  prep: Preprocessing,
  onDone?: (done: number) => void,
  skipped?: SkippedImage[],
): Promise<ImageBatch> {
  const size = prep.channels * prep.height * prep.width;
  const data = new Float32Array(items.length * size);
  const reasons = new Map<number, string>();
  let next = 0;
  let done = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        await decodeImageInto(items[i].file, prep, data, i * size);
      } catch (err) {
        if (!skipped || !(err instanceof DataError)) {
          failed = true;
          throw err;
        }
        reasons.set(i, err.message.replace(`${items[i].file}: `, ''));
      }
      onDone?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, items.length) }, worker));
  if (!reasons.size)
    return {
      data,
      dims: [items.length, prep.channels, prep.height, prep.width],
      labels: Int32Array.from(items, (i) => i.label),
    };
  const kept = items.flatMap((_, i) => (reasons.has(i) ? [] : [i]));
  for (const [i, reason] of [...reasons].sort(([a], [b]) => a - b)) skipped!.push({ file: items[i].file, reason });
  const compact = new Float32Array(kept.length * size);
  kept.forEach((from, to) => compact.set(data.subarray(from * size, (from + 1) * size), to * size));
  return {
    data: compact,
    dims: [kept.length, prep.channels, prep.height, prep.width],
    labels: Int32Array.from(kept, (i) => items[i].label),
  };
}

/** decodeImages as a step of `progress`, counting images. */
export async function decodeImagesWithProgress(
  items: readonly ImageItem[],
  prep: Preprocessing,
  progress: Progress,
  step = 'decoding',
  skipped?: SkippedImage[],
): Promise<ImageBatch> {
  progress.start(step, items.length);
  try {
    return await decodeImages(items, prep, (n) => progress.update(n), skipped);
  } finally {
    progress.end();
  }
}

/** A view of images [start, end) of a decoded batch. */
export function sliceBatch(batch: ImageBatch, start: number, end: number): ImageBatch {
  const size = batch.dims[1] * batch.dims[2] * batch.dims[3];
  return {
    data: batch.data.subarray(start * size, end * size),
    dims: [end - start, batch.dims[1], batch.dims[2], batch.dims[3]],
    labels: batch.labels.subarray(start, end),
  };
}

/** [start, end) ranges of consecutive batches. */
export function* batchRanges(n: number, batchSize: number): Generator<[number, number]> {
  for (let start = 0; start < n; start += batchSize) yield [start, Math.min(n, start + batchSize)];
}
