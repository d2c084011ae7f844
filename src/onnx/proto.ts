// Reading and writing ONNX ModelProto files; the only module that touches the protobuf schema package.
import { readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import onnxPkg from 'onnx-proto';
import { ModelError } from '../errors.js';

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
  for (const tensor of model.graph.initializer ?? []) loadExternalData(tensor, dirname(file), file);
  return model;
}

/** Reads a file that must be a regular one: a FIFO or device would block or never end, a folder has no bytes. */
function readRegularFile(file: string, expected: string): Buffer {
  const kind = statSync(file);
  if (!kind.isFile())
    throw new ModelError(
      `${file}: is ${kind.isDirectory() ? 'a folder' : 'not a regular file'}, expected ${expected}`,
      file,
    );
  return readFileSync(file);
}

function loadExternalData(tensor: TensorProto, dir: string, modelFile: string): void {
  if (tensor.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) return;
  const entries = new Map((tensor.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location');
  if (!location)
    throw new ModelError(`${modelFile}: initializer '${tensor.name}' is external but names no location`, modelFile);
  const dataFile = join(dir, location);
  if (!existsSync(dataFile))
    throw new ModelError(`${modelFile}: external data file ${dataFile} for '${tensor.name}' is missing`, dataFile);
  const whole = readRegularFile(dataFile, 'an external data file');
  const offset = Number(entries.get('offset') ?? 0);
  const length = entries.has('length') ? Number(entries.get('length')) : whole.length - offset;
  if (offset + length > whole.length) {
    throw new ModelError(
      `${dataFile}: truncated, '${tensor.name}' needs bytes ${offset}..${offset + length} of ${whole.length}`,
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
