/** Base class of every error evolq raises on purpose; the CLI prints its message on one line and exits 1. */
export class EvolqError extends Error {
  override name = 'EvolqError';
}

/** A bad option or option value: `option` names the flag or field. */
export class ConfigError extends EvolqError {
  override name = 'ConfigError';
  constructor(message: string, readonly option?: string) {
    super(message);
  }
}

/** A model file that is missing, unreadable, not ONNX, or not an image model. */
export class ModelError extends EvolqError {
  override name = 'ModelError';
  constructor(message: string, readonly file?: string) {
    super(message);
  }
}

/** A graph that does not have the structure an operation needs; `node` or `tensor` names the place. */
export class GraphError extends EvolqError {
  override name = 'GraphError';
  constructor(message: string, readonly node?: string) {
    super(message);
  }
}

/** Image folders and images: missing, empty, corrupt, or not matching the model's labels. */
export class DataError extends EvolqError {
  override name = 'DataError';
  constructor(message: string, readonly file?: string) {
    super(message);
  }
}
