// Calibration images, which need no labels: any folder tree of images, or a text file listing image paths; an
// ImageFolder of the model's classes keeps its labels.
import { readdirSync, statSync, existsSync, realpathSync } from 'node:fs';
import { join, dirname, isAbsolute } from 'node:path';
import { DataError } from '../errors.js';
import { NotRegularFileError, readRegularFile } from '../regular-file.js';
import { isImage, listImageFolder, UNLABELED, type ImageFolder, type ImageItem } from './imagefolder.js';

/**
 * Calibration images, which need no labels: an ImageFolder whose class folders are all the model's id2label
 * classes keeps its labels (the holdout's top-1 can then be reported); any other folder tree (flat, nested, class
 * folders the model does not name) or a text file listing image paths is an unlabeled set.
 */
export function listCalibrationImages(root: string, labels?: readonly string[]): ImageFolder {
  if (!existsSync(root)) throw new DataError(`${root}: no such image folder or list file`, root);
  if (!statSync(root).isDirectory()) return listImageFile(root);
  if (labels?.length) {
    try {
      return listImageFolder(root, labels);
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
    }
  }
  return listImageTree(root);
}

/** Every image under `root`, at any depth, in sorted path order; hidden entries skipped, each folder read once. */
function listImageTree(root: string): ImageFolder {
  const items: ImageItem[] = [];
  const seen = new Set<string>();
  const walk = (dir: string) => {
    const real = realpathSync(dir);
    if (seen.has(real)) return; // a link back up the tree
    seen.add(real);
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch (err) {
      throw new DataError(`${dir}: cannot read image folder (${(err as Error).message})`, dir);
    }
    for (const entry of entries) {
      if (entry.startsWith('.')) continue;
      const path = join(dir, entry);
      let isDir: boolean;
      try {
        isDir = statSync(path).isDirectory();
      } catch {
        continue; // a dangling link
      }
      if (isDir) walk(path);
      else if (isImage(entry)) items.push({ file: path, label: UNLABELED });
    }
  };
  walk(root);
  if (items.length === 0)
    throw new DataError(`${root}: no images (.jpg, .jpeg, .png, .webp) in it or its subfolders`, root);
  return { root, classNames: [], items, labeled: false };
}

/** A text file with one image path a line (relative to the file's folder; blank lines and # comments skipped). */
function listImageFile(file: string): ImageFolder {
  let text: string;
  try {
    // Non-blocking: a FIFO given as --calib would wait for a writer, and hold off SIGTERM while it waits.
    text = readRegularFile(file).toString('utf8');
  } catch (err) {
    if (err instanceof NotRegularFileError)
      throw new DataError(`${file}: ${err.message}, not an image folder or a list of image paths`, file);
    throw new DataError(`${file}: cannot read the image list (${(err as Error).message})`, file);
  }
  const items: ImageItem[] = [];
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    const entry = line.trim();
    if (!entry || entry.startsWith('#')) continue;
    const path = isAbsolute(entry) ? entry : join(dirname(file), entry);
    if (!isImage(entry))
      throw new DataError(
        `${file}: line ${index + 1} ('${entry}') is not an image path (.jpg, .jpeg, .png, .webp); the list holds one image path a line`,
        file,
      );
    if (!existsSync(path)) throw new DataError(`${file}: line ${index + 1}: ${path} does not exist`, file);
    items.push({ file: path, label: UNLABELED });
  }
  if (items.length === 0) throw new DataError(`${file}: the image list names no images`, file);
  return { root: file, classNames: [], items, labeled: false };
}
