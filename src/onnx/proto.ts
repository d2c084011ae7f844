// Reading and writing ONNX ModelProto files; the only module that touches the protobuf schema package.
// onnx-proto's types name protobufjs's global Long: a project that imports evolq gets it through this reference.
/// <reference types="long" preserve="true" />
import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, sep } from 'node:path';
import onnxPkg from 'onnx-proto';
import { ModelError } from '../errors.js';
import { NotRegularFileError, readRegularFile as readRegular } from '../regular-file.js';

export const onnx = onnxPkg.onnx;
export type ModelProto = onnxPkg.onnx.ModelProto;
export type TensorProto = onnxPkg.onnx.ITensorProto;
export type NodeProto = onnxPkg.onnx.INodeProto;
export type AttributeProto = onnxPkg.onnx.IAttributeProto;
export type ValueInfoProto = onnxPkg.onnx.IValueInfoProto;

/** ONNX TensorProto.DataType values used here (the schema package predates the 4-bit ones). */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT4: 21,
  INT4: 22,
} as const;

/** protobufjs gives int64 fields as Long objects; everything evolq reads fits a double. */
export function toNumber(value: number | { toNumber(): number } | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

/** Parses an ONNX file, pulling external-data initializers into memory. */
export function readModel(file: string): ModelProto {
  if (!existsSync(file)) throw new ModelError(`${file}: no such model file`, file);
  const bytes = readRegularFile(file, 'an ONNX model file');
  if (bytes.length === 0) throw new ModelError(`${file}: the file is empty, not an ONNX model`, file);
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new ModelError(`${file}: not a readable ONNX model (${(err as Error).message})`, file);
  }
  if (!model.graph || !model.graph.node?.length || toNumber(model.irVersion) === 0) {
    throw new ModelError(`${file}: not an ONNX model (no graph or IR version found)`, file);
  }
  const files = new Map<string, Buffer>();
  for (const tensor of model.graph.initializer ?? []) {
    loadExternalData(tensor, dirname(file), file, files);
    checkTensorData(tensor, file);
  }
  return model;
}

/** The typed field that holds a tensor's values when it has no raw_data, by data type (ONNX's storage rules). */
function typedValues(tensor: TensorProto): { length: number } | null | undefined {
  switch (tensor.dataType) {
    case DataType.FLOAT:
      return tensor.floatData;
    case DataType.DOUBLE:
      return tensor.doubleData;
    case DataType.INT64:
      return tensor.int64Data;
    case DataType.INT32:
    case DataType.UINT8:
    case DataType.INT8:
    case DataType.BOOL:
    case DataType.FLOAT16:
    case DataType.UINT4:
    case DataType.INT4:
      return tensor.int32Data;
    default:
      return undefined;
  }
}

/**
 * An initializer whose shape is not sizes >= 0, or whose data is not as long as its shape and type say, is refused
 * here: evolq reads weights before onnxruntime sees the model, and a short tensor would be read past its end.
 */
function checkTensorData(tensor: TensorProto, file: string): void {
  const dims = tensorDims(tensor);
  const what = `initializer '${tensor.name}' of shape [${dims.join(', ')}]`;
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0))
    throw new ModelError(`${file}: ${what} has a size that is not a whole number >= 0: the file is damaged`, file);
  const count = dims.reduce((a, b) => a * b, 1);
  const elementBytes = ELEMENT_BYTES[tensor.dataType ?? 0];
  if (elementBytes === undefined) return;
  const raw = tensor.rawData?.length ?? 0;
  if (raw > 0 || count === 0) {
    const expected = Math.ceil(count * elementBytes);
    if (raw !== expected)
      throw new ModelError(`${file}: ${what} needs ${expected} bytes, its data has ${raw}: the file is damaged`, file);
    return;
  }
  const values = typedValues(tensor)?.length ?? 0;
  const expected = elementBytes < 1 ? Math.ceil(count * elementBytes) : count;
  if (values !== expected)
    throw new ModelError(
      `${file}: ${what} needs ${expected} values, its data has ${values}: the file is damaged`,
      file,
    );
}

/** Reads a file that must be a regular one: a FIFO or device would block or never end, a folder has no bytes. */
function readRegularFile(file: string, expected: string): Buffer {
  try {
    return readRegular(file);
  } catch (err) {
    if (err instanceof NotRegularFileError)
      throw new ModelError(
        `${file}: is ${err.kind === 'a folder' ? 'a folder' : 'not a regular file'}, expected ${expected}`,
        file,
      );
    throw err;
  }
}

/** Bytes per element of the data types an initializer can have here; 4-bit types count half a byte. */
const ELEMENT_BYTES: Record<number, number> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT4]: 0.5,
  [DataType.INT4]: 0.5,
};

/**
 * The file an external-data location names, if it is one inside the model's folder: a relative path without '..'
 * (as onnxruntime requires) whose real path, links followed, stays in the folder's.
 */
function externalDataPath(dir: string, location: string, what: string, modelFile: string): string {
  const parts = location.split(/[\\/]/);
  if (isAbsolute(location) || /^[a-zA-Z]:/.test(location) || parts.includes('..'))
    throw new ModelError(
      `${modelFile}: ${what} names external data at '${location}', outside the model's folder; external data must be a relative path inside ${dir}`,
      modelFile,
    );
  const dataFile = join(dir, location);
  if (!existsSync(dataFile))
    throw new ModelError(`${modelFile}: external data file ${dataFile} for ${what} is missing`, dataFile);
  const folder = realpathSync(dir);
  const real = realpathSync(dataFile);
  if (real !== folder && !real.startsWith(folder + sep))
    throw new ModelError(
      `${modelFile}: external data file ${dataFile} for ${what} links to ${real}, outside the model's folder`,
      dataFile,
    );
  return dataFile;
}

/** A non-negative integer offset or length of an external-data entry. */
function byteCount(value: string | undefined, key: string, what: string, dataFile: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new ModelError(`${dataFile}: ${what} has external-data ${key} '${value}', not a byte count`, dataFile);
  return Number(value);
}

function loadExternalData(tensor: TensorProto, dir: string, modelFile: string, files: Map<string, Buffer>): void {
  if (tensor.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) return;
  const what = `initializer '${tensor.name}'`;
  const entries = new Map((tensor.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location');
  if (!location) throw new ModelError(`${modelFile}: ${what} is external but names no location`, modelFile);
  const dataFile = externalDataPath(dir, location, what, modelFile);
  if (!files.has(dataFile)) files.set(dataFile, readRegularFile(dataFile, 'an external data file'));
  const whole = files.get(dataFile)!;
  const offset = byteCount(entries.get('offset'), 'offset', what, dataFile) ?? 0;
  const length = byteCount(entries.get('length'), 'length', what, dataFile) ?? whole.length - offset;
  if (offset + length > whole.length || length < 0) {
    throw new ModelError(
      `${dataFile}: truncated, ${what} needs bytes ${offset}..${offset + Math.max(length, 0)} of ${whole.length}`,
      dataFile,
    );
  }
  tensor.rawData = whole.subarray(offset, offset + length);
  tensor.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
  tensor.externalData = [];
}

/** Serializes a model. With `externalData`, initializers of at least 1 KiB go to `<file>.data` beside it. */
export function encodeModel(
  model: ModelProto,
  options: { externalDataFile?: string } = {},
): { model: Uint8Array; data?: Uint8Array } {
  if (!options.externalDataFile) return { model: onnx.ModelProto.encode(model).finish() };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const copy = onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
  for (const tensor of copy.graph?.initializer ?? []) {
    const raw = tensor.rawData;
    if (!raw || raw.length < 1024) continue;
    const pad = (4096 - (offset % 4096)) % 4096;
    if (pad) chunks.push(new Uint8Array(pad));
    offset += pad;
    chunks.push(raw);
    tensor.rawData = new Uint8Array(0);
    tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    tensor.externalData = [
      { key: 'location', value: basename(options.externalDataFile) },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.length) },
    ];
    offset += raw.length;
  }
  return { model: onnx.ModelProto.encode(copy).finish(), data: Buffer.concat(chunks) };
}

export function tensorDims(tensor: TensorProto): number[] {
  return (tensor.dims ?? []).map((d) => toNumber(d));
}

function rawView(raw: Uint8Array): ArrayBuffer {
  // Copy: raw_data slices of the file buffer are not aligned for typed-array views.
  const copy = new Uint8Array(raw.length);
  copy.set(raw);
  return copy.buffer;
}

/** The values of a float tensor (FLOAT or DOUBLE) as float32. */
export function tensorToFloat32(tensor: TensorProto): Float32Array {
  const type = tensor.dataType ?? 0;
  if (type === DataType.FLOAT) {
    if (tensor.rawData && tensor.rawData.length) return new Float32Array(rawView(tensor.rawData));
    return Float32Array.from(tensor.floatData ?? []);
  }
  if (type === DataType.DOUBLE) {
    if (tensor.rawData && tensor.rawData.length) return Float32Array.from(new Float64Array(rawView(tensor.rawData)));
    return Float32Array.from(tensor.doubleData ?? []);
  }
  throw new ModelError(`tensor '${tensor.name}' has data type ${type}, expected float`);
}

/** The values of an integer tensor (INT64 or INT32) as numbers. */
export function tensorToInts(tensor: TensorProto): number[] {
  const type = tensor.dataType ?? 0;
  if (type === DataType.INT64) {
    if (tensor.rawData && tensor.rawData.length) return Array.from(new BigInt64Array(rawView(tensor.rawData)), Number);
    return (tensor.int64Data ?? []).map((v) => toNumber(v));
  }
  if (type === DataType.INT32) {
    if (tensor.rawData && tensor.rawData.length) return Array.from(new Int32Array(rawView(tensor.rawData)));
    return tensor.int32Data ?? [];
  }
  throw new ModelError(`tensor '${tensor.name}' has data type ${type}, expected int64 or int32`);
}

export function floatTensor(name: string, dims: readonly number[], values: Float32Array): TensorProto {
  return onnx.TensorProto.create({
    name,
    dims: [...dims],
    dataType: DataType.FLOAT,
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  });
}

export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): TensorProto {
  const data = BigInt64Array.from(values, (v) => BigInt(v));
  return onnx.TensorProto.create({
    name,
    dims: [...dims],
    dataType: DataType.INT64,
    rawData: new Uint8Array(data.buffer),
  });
}

/** A ValueInfo of a float tensor; `shape` entries may be symbolic names. */
export function floatValueInfo(name: string, shape?: readonly (number | string)[]): ValueInfoProto {
  const dim = shape?.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: DataType.FLOAT, shape: dim ? { dim } : undefined } },
  });
}

/** The declared shape of a graph input or output; -1 or a name where it is symbolic. */
export function valueInfoShape(info: ValueInfoProto): (number | string)[] | undefined {
  const dims = info.type?.tensorType?.shape?.dim;
  if (!dims) return undefined;
  return dims.map((d) =>
    d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? toNumber(d.dimValue) : -1,
  );
}
