// What evolq cannot run, found in the graph before it tries: other inputs than the image, channels-last or
// unfeedable image sizes, a fixed batch, float16 weights.
import type { Graph } from './onnx/graph.js';
import { valueInfoShape, DataType, type ValueInfoProto } from './onnx/proto.js';
import { ModelError } from './errors.js';
import { MAX_SIDE } from './options/values.js';

/** The ONNX type names of input types a model may have, for messages. */
export function typeName(elemType: number | null | undefined): string {
  const names: Record<number, string> = {
    [DataType.FLOAT]: 'float32',
    [DataType.FLOAT16]: 'float16',
    [DataType.DOUBLE]: 'float64',
    [DataType.UINT8]: 'uint8',
    [DataType.INT64]: 'int64',
  };
  return names[elemType ?? 0] ?? `type ${elemType}`;
}

/** What evolq cannot run, said before it tries: other inputs than the image, a fixed batch, float16 weights. */
export function checkRunnable(graph: Graph, imageInput: ValueInfoProto, file: string): void {
  const others = graph.inputs.filter((i) => i !== imageInput && !graph.initializers.has(i.name ?? ''));
  if (others.length)
    throw new ModelError(
      `${file}: the model has ${others.length + 1} inputs (${[imageInput, ...others].map((i) => i.name).join(', ')}); evolq feeds one image input: export the image model alone`,
      file,
    );
  const shape = valueInfoShape(imageInput)!;
  if (typeof shape[3] === 'number' && [1, 3, 4].includes(shape[3]) && !(typeof shape[1] === 'number' && shape[1] <= 4))
    throw new ModelError(
      `${file}: input '${imageInput.name}' [${shape.join(', ')}] is channels-last; evolq takes channels-first [batch, C, H, W] inputs: export the model with NCHW input`,
      file,
    );
  const [, channels, height, width] = shape;
  if (
    channels === 0 ||
    height === 0 ||
    width === 0 ||
    [height, width].some((d) => typeof d === 'number' && d > MAX_SIDE)
  )
    throw new ModelError(
      `${file}: input '${imageInput.name}' [${shape.join(', ')}] is not an image size evolq can feed (sides 1..${MAX_SIDE}, at least one channel)`,
      file,
    );
  const batch = shape[0];
  if (typeof batch === 'number' && batch > 0)
    throw new ModelError(
      `${file}: input '${imageInput.name}' has a fixed batch of ${batch}; evolq runs images in batches: export it with a dynamic batch axis (torch.onnx.export(..., dynamic_axes={'${imageInput.name}': {0: 'batch'}}))`,
      file,
    );
  const half = [...graph.initializers.values()].find((t) => t.dataType === DataType.FLOAT16);
  if (half)
    throw new ModelError(
      `${file}: weight '${half.name}' is float16; evolq quantizes float32 models: give it the float32 export (model.onnx rather than model_fp16.onnx)`,
      file,
    );
}
