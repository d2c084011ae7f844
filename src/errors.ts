/** Base class of every error evolq raises on purpose; the CLI prints its message on one line and exits 1. */
export class EvolqError extends Error {
  override name = 'EvolqError';
}

/** A bad option or option value: `option` names the flag or field. */
export class ConfigError extends EvolqError {
  override name = 'ConfigError';
  constructor(
    message: string,
    readonly option?: string,
  ) {
    super(message);
  }
}

/** A model file that is missing, unreadable, not ONNX, or not an image model. */
export class ModelError extends EvolqError {
  override name = 'ModelError';
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(message);
  }
}

/** A graph that does not have the structure an operation needs; `node` or `tensor` names the place. */
export class GraphError extends EvolqError {
  override name = 'GraphError';
  constructor(
    message: string,
    readonly node?: string,
  ) {
    super(message);
  }
}

/** Image folders and images: missing, empty, corrupt, or not matching the model's labels. */
export class DataError extends EvolqError {
  override name = 'DataError';
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(message);
  }
}

/** A file or folder the operating system refused: `file` names it, `code` is the errno name (EACCES, ENOSPC, …). */
export class FileSystemError extends EvolqError {
  override name = 'FileSystemError';
  constructor(
    message: string,
    readonly file?: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

const ERRNO_MEANINGS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'is a folder where a file was expected',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or folder',
  EEXIST: 'already exists',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many levels of symbolic links',
  EBUSY: 'busy',
  EIO: 'input/output error',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
};

/** The one-line EvolqError for an operating-system error (an fs or net failure), or undefined for any other error. */
export function fromSystemError(err: unknown): FileSystemError | undefined {
  const e = err as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof e.code !== 'string' || !(e.code in ERRNO_MEANINGS)) return undefined;
  const where = e.path ?? (e as { address?: string }).address;
  return new FileSystemError(
    `${where ? `${where}: ` : ''}${ERRNO_MEANINGS[e.code]} (${e.code}${e.syscall ? `, ${e.syscall}` : ''})`,
    e.path,
    e.code,
  );
}
