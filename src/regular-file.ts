// Reading a file that must be a regular one (an image, a served file, an ONNX model or its external data), without
// blocking: opening a FIFO for reading waits for a writer (an `x.jpg` that is a FIFO hung eval and serve), so the
// file is opened non-blocking and checked on its descriptor, which also leaves no moment in which another file can
// be put in its place.
import { closeSync, constants, fstatSync, openSync, readFileSync, type Stats } from 'node:fs';

/** What a file that is not a regular one is, in words. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** A file that is not a regular one; its message says what it is ('is a FIFO'). */
export class NotRegularFileError extends Error {
  constructor(readonly kind: string) {
    super(`is ${kind}`);
  }
}

/** The bytes of `file`; NotRegularFileError where it is a FIFO, socket, device or folder. `noFollow`: refuse links. */
export function readRegularFile(file: string, options: { noFollow?: boolean } = {}): Buffer {
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow ? constants.O_NOFOLLOW : 0);
  const fd = openSync(file, flags);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new NotRegularFileError(kindOf(stats));
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
