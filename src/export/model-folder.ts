// The output folder as a model folder for transformers.js: the quantized model under the file name its dtype
// reads (onnx/model_quantized.onnx for q8, onnx/model_q4.onnx for q4), config.json saying what evolq did and
// which dtype to load by default, and preprocessor_config.json naming its image processor. A bare export (no
// configs, its own input and output names) gets what transformers.js needs written for it.
import type { LoadedModel } from '../model.js';
import { RESAMPLE_CODES } from '../data/preprocessor-config.js';
import { onnx } from '../onnx/proto.js';
import { GraphError } from '../errors.js';
import type { Task } from '../task.js';

/** transformers.js dtype and file for the weight width: 3-bit weights are stored as uint4, as 4-bit ones. */
export function transformersJsFile(wBits: number): { dtype: 'q8' | 'q4'; file: string } {
  return wBits >= 8 ? { dtype: 'q8', file: 'onnx/model_quantized.onnx' } : { dtype: 'q4', file: 'onnx/model_q4.onnx' };
}

// The image processor transformers.js uses for each model_type, where the config does not name one.
const IMAGE_PROCESSORS: Record<string, string> = {
  vit: 'ViTImageProcessor',
  deit: 'DeiTImageProcessor',
  swin: 'ViTImageProcessor',
  beit: 'BeitImageProcessor',
  convnext: 'ConvNextImageProcessor',
  resnet: 'ConvNextImageProcessor',
  levit: 'LevitImageProcessor',
  dinov2: 'BitImageProcessor',
};

export interface QuantizationConfig {
  quant_method: 'evolq';
  /** The narrowest weight width; with --size-budget, `w_bits_per_layer` has each layer's. */
  w_bits: number;
  weight_storage: 'int8' | 'uint4' | 'mixed';
  [setting: string]: unknown;
}

/** config.json of the output: the input's, plus `quantization_config` and transformers.js's default dtype. */
export function outputConfig(
  input: Record<string, unknown>,
  quantization: QuantizationConfig,
): Record<string, unknown> {
  const { dtype } = transformersJsFile(quantization.w_bits);
  const custom =
    typeof input['transformers.js_config'] === 'object' && input['transformers.js_config'] !== null
      ? (input['transformers.js_config'] as Record<string, unknown>)
      : {};
  return { ...input, quantization_config: quantization, 'transformers.js_config': { ...custom, dtype } };
}

/**
 * preprocessor_config.json of the output: the input's, with `image_processor_type` added from `model_type`
 * where it is missing (transformers.js needs it); undefined when neither names one.
 */
export function outputPreprocessorConfig(
  input: Record<string, unknown>,
  modelType: unknown,
): { config: Record<string, unknown>; added?: string } {
  if (input.image_processor_type || input.feature_extractor_type) return { config: input };
  const processor = typeof modelType === 'string' ? IMAGE_PROCESSORS[modelType] : undefined;
  return processor ? { config: { ...input, image_processor_type: processor }, added: processor } : { config: input };
}

/**
 * The names transformers.js feeds and reads: its image models run `{ pixel_values }`; an image classifier takes
 * `logits`, `pipeline('image-feature-extraction')` returns `last_hidden_state`, else `logits`, else `image_embeds`.
 */
export const TRANSFORMERS_JS_INPUT = 'pixel_values';
export const TRANSFORMERS_JS_OUTPUT = 'logits';
const FEATURE_OUTPUTS = ['last_hidden_state', 'image_embeds'];

/** The output name transformers.js reads for the task: an embedding keeps a name it reads, else is `image_embeds`. */
function transformersJsOutput(task: Task, name: string): string {
  if (task === 'image-classification') return TRANSFORMERS_JS_OUTPUT;
  return FEATURE_OUTPUTS.includes(name) ? name : 'image_embeds';
}

/**
 * The model type written where the input config names none. transformers.js picks its model class by model_type;
 * its ViT image classifier only feeds pixel_values and reads logits, so it runs any image classifier's graph.
 */
const GENERIC_MODEL_TYPE = 'vit';

export interface TransformersJsFolder {
  config: Record<string, unknown>;
  preprocessorConfig: Record<string, unknown>;
  imageProcessorAdded?: string;
  /** Graph input and output names to change in the transformers.js file, [from, to]. */
  renames: [string, string][];
  /** What was written for transformers.js that the input folder did not have, in words. */
  added: string[];
}

/**
 * config.json, preprocessor_config.json and the input/output names transformers.js needs for an image classifier
 * of `classes` classes, or an image encoder. A config without model_type gets the generic one and, for a classifier,
 * id2label (the model's, or LABEL_i);
 * a model without preprocessor_config.json gets one that states the preprocessing evolq measured with; names
 * other than pixel_values / logits are renamed in the transformers.js file.
 */
export function transformersJsFolder(
  model: Pick<
    LoadedModel,
    'config' | 'preprocessorConfig' | 'hasPreprocessorConfig' | 'labels' | 'preprocessing' | 'inputName' | 'outputName'
  > & { task: { task: Task } },
  quantization: QuantizationConfig,
  classes: number,
): TransformersJsFolder {
  const added: string[] = [];
  let input = model.config;
  const encoder = model.task.task === 'image-feature-extraction';
  if (typeof input.model_type !== 'string' && encoder) {
    input = { ...input, model_type: GENERIC_MODEL_TYPE, architectures: ['ViTModel'] };
    added.push(
      `config.json: model_type '${GENERIC_MODEL_TYPE}' (transformers.js's generic image model, which image-feature-extraction loads)`,
    );
  } else if (typeof input.model_type !== 'string') {
    const labels = model.labels ?? Array.from({ length: classes }, (_, i) => `LABEL_${i}`);
    input = {
      ...input,
      model_type: GENERIC_MODEL_TYPE,
      architectures: ['ViTForImageClassification'],
      id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
      label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    };
    added.push(
      `config.json: model_type '${GENERIC_MODEL_TYPE}' (transformers.js's generic image classifier) and id2label for ${labels.length} classes${model.labels ? '' : ' (LABEL_0 …: the model names none)'}`,
    );
  }
  let preprocessor = model.preprocessorConfig;
  if (!model.hasPreprocessorConfig) {
    const p = model.preprocessing;
    preprocessor = {
      do_resize: true,
      size: { height: p.height, width: p.width },
      resample: RESAMPLE_CODES.indexOf(p.resample),
      do_rescale: true,
      rescale_factor: p.rescale,
      do_normalize: true,
      image_mean: p.mean,
      image_std: p.std,
    };
    added.push(
      `preprocessor_config.json: resize to ${p.height}×${p.width}, mean and std as evolq evaluated with (--size, --mean, --std)`,
    );
  }
  const processor = outputPreprocessorConfig(preprocessor, input.model_type);
  const renames: [string, string][] = [
    [model.inputName, TRANSFORMERS_JS_INPUT],
    [model.outputName, transformersJsOutput(model.task.task, model.outputName)],
  ].filter(([from, to]) => from !== to) as [string, string][];
  for (const [from, to] of renames)
    added.push(
      `the transformers.js file's ${to === TRANSFORMERS_JS_INPUT ? 'input' : 'output'} '${from}' is named '${to}'`,
    );
  return {
    config: outputConfig(input, quantization),
    preprocessorConfig: processor.config,
    imageProcessorAdded: processor.added,
    renames,
    added,
  };
}

/**
 * The serialized model with graph values renamed ([from, to]): its inputs and outputs, and every node input, output
 * and value_info that names them. A `to` the graph already uses for another value is refused.
 */
export function renameGraphValues(bytes: Uint8Array, renames: readonly [string, string][]): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const used = new Set([
    ...(graph.node ?? []).flatMap((n) => n.output ?? []),
    ...(graph.initializer ?? []).map((t) => t.name ?? ''),
    ...(graph.input ?? []).map((v) => v.name ?? ''),
  ]);
  for (const [from, to] of renames)
    if (used.has(to) && from !== to)
      throw new GraphError(`cannot name '${from}' '${to}' for transformers.js: the graph already has a '${to}'`, to);
  const names = new Map(renames);
  const swap = (name: string) => names.get(name) ?? name;
  for (const value of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])])
    value.name = swap(value.name ?? '');
  for (const node of graph.node ?? []) {
    node.input = (node.input ?? []).map(swap);
    node.output = (node.output ?? []).map(swap);
  }
  return onnx.ModelProto.encode(model).finish();
}
