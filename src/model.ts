// Loading a model: an HF-style folder (model.onnx + preprocessor_config.json + config.json) or a bare .onnx file.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { readModel, valueInfoShape, DataType } from './onnx/proto.js';
import { Graph } from './onnx/graph.js';
import { pruneDeadNodes } from './onnx/edits.js';
import { foldBatchNorms, type BatchNormFolding } from './onnx/fold-batchnorm.js';
import { parsePreprocessorConfig, type Preprocessing } from './data/preprocessor-config.js';
import { ConfigError, ModelError } from './errors.js';
import { checkRunnable, typeName } from './model-checks.js';
import { detectTask, type DetectedTask, type Task } from './task.js';

export interface PreprocessingOverrides {
  /** Input height and width. */
  size?: [number, number];
  mean?: number[];
  std?: number[];
}

export interface ModelOptions extends PreprocessingOverrides {
  /** In a model folder, the .onnx file to use instead of model.onnx (looked up in onnx/, then in the folder). */
  modelFile?: string;
  /** The output evolq scores, of a model with several; the others are dropped. */
  output?: string;
  /** What the output is (class logits or an embedding); detected where not given. */
  task?: Task;
}

/**
 * The model file of a folder: model.onnx (Optimum's layout), else onnx/model.onnx (transformers.js's), or the
 * file `modelFile` names, in onnx/ or the folder itself.
 */
function modelFileOf(dir: string, modelFile?: string): string {
  let candidates = [join(dir, 'model.onnx'), join(dir, 'onnx', 'model.onnx')];
  if (modelFile !== undefined) {
    if (!modelFile || /[\\/]/.test(modelFile) || modelFile.startsWith('.')) {
      throw new ConfigError(
        `--model-file must be a file name in ${dir}/onnx or ${dir} (like model_fp16.onnx), got "${modelFile}"`,
        '--model-file',
      );
    }
    const name = modelFile.endsWith('.onnx') ? modelFile : `${modelFile}.onnx`;
    candidates = [join(dir, 'onnx', name), join(dir, name)];
  }
  const found = candidates.find((f) => existsSync(f));
  if (!found)
    throw new ModelError(
      `${dir}: no model file (looked for ${candidates.map((f) => relative(dir, f)).join(' and ')})`,
      dir,
    );
  return found;
}

export interface LoadedModel {
  /** The model file. */
  file: string;
  /** The folder whose configs were read, if any. */
  dir?: string;
  /** The model's graph with its BatchNormalizations folded into the adjacent layers where that is exact. */
  graph: Graph;
  batchNormFolding: BatchNormFolding;
  inputName: string;
  outputName: string;
  /** Class logits or an embedding, and why evolq takes it so. */
  task: DetectedTask;
  preprocessing: Preprocessing;
  /** id2label names in class-index order, when config.json has them (a classifier's only). */
  labels?: string[];
  /** config.json as read (empty when absent). */
  config: Record<string, unknown>;
  preprocessorConfig: Record<string, unknown>;
  /** Whether preprocessor_config.json was a file beside the model (a bare export has none). */
  hasPreprocessorConfig: boolean;
}

function readJson(file: string): Record<string, unknown> | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const value = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value;
  } catch (err) {
    throw new ModelError(`${file}: invalid JSON (${(err as Error).message})`, file);
  }
}

function labelsOf(config: Record<string, unknown>, file: string): string[] | undefined {
  const id2label = config.id2label;
  if (!id2label || typeof id2label !== 'object') return undefined;
  const entries = Object.entries(id2label as Record<string, unknown>);
  const labels: string[] = [];
  for (const [key, name] of entries) {
    const index = /^\d+$/.test(key) ? Number(key) : NaN;
    if (!Number.isInteger(index) || index < 0 || index >= entries.length)
      throw new ModelError(`${file}: id2label key '${key}' is not an index 0..${entries.length - 1}`, file);
    labels[index] = String(name);
  }
  return labels;
}

/** Loads a model folder or file and works out its image input and preprocessing. */
export function loadModel(path: string, overrides: ModelOptions = {}): LoadedModel {
  if (!existsSync(path)) throw new ModelError(`${path}: no such model file or folder`, path);
  const isDir = statSync(path).isDirectory();
  if (!isDir && overrides.modelFile !== undefined)
    throw new ConfigError(`--model-file picks a file in a model folder; ${path} is a file`, '--model-file');
  const file = isDir ? modelFileOf(path, overrides.modelFile) : path;
  const dir = isDir ? path : dirname(path);
  const graph = new Graph(readModel(file));
  const batchNormFolding = foldBatchNorms(graph);

  const imageInput = graph.inputs.find((i) => {
    const shape = valueInfoShape(i);
    return i.type?.tensorType?.elemType === DataType.FLOAT && shape?.length === 4;
  });
  if (!imageInput) {
    const seen = graph.inputs
      .map((i) => `${i.name} ${typeName(i.type?.tensorType?.elemType)} ${JSON.stringify(valueInfoShape(i))}`)
      .join(', ');
    throw new ModelError(
      `${file}: no image input (expected a float32 input of shape [batch, C, H, W]; found ${seen || 'none'})`,
      file,
    );
  }
  checkRunnable(graph, imageInput, file);
  if (graph.outputs.length === 0) throw new ModelError(`${file}: the model has no outputs`, file);
  pickOutput(graph, file, overrides.output);
  const shape = valueInfoShape(imageInput)!;
  const dim = (d: number | string) => (typeof d === 'number' && d > 0 ? d : -1);
  const modelSize: [number, number, number] = [dim(shape[1]), dim(shape[2]), dim(shape[3])];

  const preprocessorFile = join(dir, 'preprocessor_config.json');
  const prep = preprocessingOf(preprocessorFile, file, overrides, modelSize);

  const configFile = join(dir, 'config.json');
  const readConfig = readJson(configFile);
  const config = readConfig ?? {};
  const task = detectTask(graph.outputs[0], readConfig, overrides.task);
  const labels = task.task === 'image-classification' ? labelsOf(config, configFile) : undefined;
  const classes = valueInfoShape(graph.outputs[0])?.at(-1);
  if (labels && typeof classes === 'number' && classes > 0 && classes !== labels.length)
    throw new ModelError(
      `${configFile}: id2label names ${labels.length} classes and the model outputs ${classes}: the config is not this model's`,
      configFile,
    );
  return {
    file,
    dir,
    graph,
    batchNormFolding,
    inputName: imageInput.name ?? '',
    outputName: graph.outputs[0].name ?? '',
    task,
    labels,
    config,
    ...prep,
  };
}

/**
 * preprocessor_config.json beside the model with --size, --mean and --std over it, or, for a bare export, made of
 * them (and of a fixed input size); `modelSize` gets the size where the model leaves it dynamic.
 */
function preprocessingOf(
  preprocessorFile: string,
  file: string,
  overrides: ModelOptions,
  modelSize: [number, number, number],
): { preprocessorConfig: Record<string, unknown>; preprocessing: Preprocessing; hasPreprocessorConfig: boolean } {
  const exists = existsSync(preprocessorFile);
  const preprocessorConfig = readJson(preprocessorFile) ?? {};
  if (overrides.size) {
    preprocessorConfig.size = { height: overrides.size[0], width: overrides.size[1] };
    modelSize[1] = modelSize[1] > 0 ? modelSize[1] : overrides.size[0];
    modelSize[2] = modelSize[2] > 0 ? modelSize[2] : overrides.size[1];
  }
  for (const [flag, given] of [
    ['--mean', overrides.mean],
    ['--std', overrides.std],
  ] as const)
    if (given && modelSize[0] > 0 && given.length !== modelSize[0] && given.length !== 1)
      throw new ConfigError(
        `${flag} has ${given.length} values, the model takes ${modelSize[0]} channels: give ${modelSize[0]} (or one for all)`,
        flag,
      );
  // A bare export with a fixed input size: images are resized to it (what the transformers.js config evolq writes
  // for it says too).
  if (!exists && !overrides.size && modelSize[1] > 0 && modelSize[2] > 0)
    preprocessorConfig.size = { height: modelSize[1], width: modelSize[2] };
  if (overrides.mean) preprocessorConfig.image_mean = overrides.mean;
  if (overrides.std) preprocessorConfig.image_std = overrides.std;
  if (!exists && !overrides.mean && !overrides.std) {
    throw new ConfigError(
      `${file}: no preprocessor_config.json beside it; give --mean and --std (and --size if the input size is dynamic)`,
      '--mean',
    );
  }
  if (!exists && (modelSize[1] < 0 || modelSize[2] < 0))
    throw new ConfigError(
      `${file}: its input size is dynamic and there is no preprocessor_config.json to give one; give --size HxW`,
      '--size',
    );
  const preprocessing = parsePreprocessorConfig(preprocessorConfig, preprocessorFile, modelSize);
  return { preprocessorConfig, preprocessing, hasPreprocessorConfig: exists };
}

/**
 * The output evolq scores: the model's only one, or the one `output` names (--output), the others and the nodes
 * and weights only they read dropped. Several outputs and no --output is an error that lists them.
 */
function pickOutput(graph: Graph, file: string, output?: string): void {
  const described = graph.outputs.map((o) => `${o.name} [${(valueInfoShape(o) ?? []).join(', ')}]`).join(', ');
  if (output === undefined) {
    if (graph.outputs.length > 1)
      throw new ModelError(
        `${file}: the model has ${graph.outputs.length} outputs (${described}); give --output NAME for the one to score (the class logits, or the embedding of an image encoder)`,
        file,
      );
    return;
  }
  const chosen = graph.outputs.find((o) => o.name === output);
  if (!chosen)
    throw new ConfigError(`--output ${output}: the model has no such output; its outputs: ${described}`, '--output');
  if (graph.outputs.length === 1) return;
  graph.outputs = [chosen];
  graph.invalidate();
  pruneDeadNodes(graph);
  const read = new Set(graph.nodes.flatMap((n) => n.inputs));
  const unread = [...graph.initializers.keys()].filter((name) => !read.has(name));
  for (const name of unread) graph.initializers.delete(name);
  graph.inputs = graph.inputs.filter((i) => !unread.includes(i.name ?? ''));
}

const QUANTIZED_OPS = new Set([
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'QLinearMatMul',
  'QLinearConv',
  'MatMulInteger',
  'ConvInteger',
  'MatMulNBits',
]);

/** Quantizing needs the float model: an already quantized one (an evolq output, a *_quantized.onnx) is refused. */
export function requireFloatModel(model: LoadedModel): void {
  const quantized = model.graph.nodes.filter((n) => QUANTIZED_OPS.has(n.opType));
  if (quantized.length) {
    const ops = [...new Set(quantized.map((n) => n.opType))].join(', ');
    throw new ModelError(
      `${model.file}: is already quantized (${quantized.length} ${ops} nodes); give the float model it came from`,
      model.file,
    );
  }
}
