// The public API; the CLI only wraps these. Data flows model → graph → quant points → calibration → search
// → evaluation → files.
/// <reference types="node" preserve="true" />
/// <reference types="long" preserve="true" />
export { BUNDLED } from './bundled.js';
export {
  loadModel,
  requireFloatModel,
  type LoadedModel,
  type ModelOptions,
  type PreprocessingOverrides,
} from './model.js';
export { TASKS, detectTask, type Task, type DetectedTask } from './task.js';
export { Graph, type Node } from './onnx/graph.js';
export { readModel, encodeModel } from './onnx/proto.js';
export { extractSubgraph } from './onnx/extract.js';
export { foldBatchNorms, type BatchNormFolding } from './onnx/fold-batchnorm.js';
export { findQuantPoints, type QuantPoint, type PointKind } from './quant/points.js';
export { findUnits, type SearchUnit, type SearchSpace } from './quant/units.js';
export { materialize, simulationFeeds, type Simulation, type MaterializeOptions } from './quant/materialize.js';
export {
  fakeQuantUniform,
  fakeQuantLog2,
  type QuantParams,
  type UniformParams,
  type Log2Params,
} from './quant/scheme.js';
export { calibrate } from './calibrate/calibrate.js';
export { type CalibrationTable, type CalibrationOptions } from './calibrate/table.js';
export { OBSERVER_REGISTRY, OBSERVERS, type Observer } from './calibrate/observers/registry.js';
export {
  listImageFolder,
  limitPerClass,
  drawSplits,
  decodeImages,
  type ImageFolder,
  type ImageBatch,
  type ImageItem,
  type SkippedImage,
} from './data/imagefolder.js';
export { parsePreprocessorConfig, type Preprocessing } from './data/preprocessor-config.js';
export { evaluateAccuracy } from './evaluate/evaluate.js';
export { knnClassify, pooledRows, KNN_NEIGHBOURS, KNN_TEMPERATURE, type KnnResult } from './evaluate/embeddings.js';
export { Fitness, withScales, type FitnessSetup } from './fitness/fitness.js';
export { LOSS_REGISTRY, LOSSES, lossFunction, type Loss, type LossFunction } from './fitness/losses.js';
export { evolqSearch } from './search/search.js';
export { defaultRadius, type SearchSettings, type SearchSetup } from './search/settings.js';
export { type SearchReport } from './search/report.js';
export { measureLandscape, type Landscape, type LandscapeSettings } from './landscape/landscape.js';
export { deployableGraph, type FloatSubgraph, type Deployable } from './export/deployable.js';
export { EXPORT_FORMATS, EXPORT_FORMAT_NAMES, type ExportFormat } from './export/formats.js';
export { quantJson } from './export/quantjson.js';
export { chosenKernels } from './export/kernels.js';
export { transformersJsFile, outputConfig, outputPreprocessorConfig } from './export/model-folder.js';
export { OutputDir } from './export/outdir.js';
export { reportHtml } from './report/html.js';
export type { QuantizeReport, LandscapeFile } from './report/types.js';
export { prepare, calibrateBaseline, type Prepared, type PrepareRequest } from './pipeline/prepare.js';
export { landscape, type LandscapeRequest } from './pipeline/landscape.js';
export { inspectModel, type InspectReport } from './pipeline/inspect.js';
export { evaluateModel, type EvalOptions } from './pipeline/evaluate-model.js';
export { quantize, type QuantizeRequest } from './pipeline/quantize.js';
export { resolveOptions, DEFAULTS, PRESETS, flagOf } from './options/resolve.js';
export { QUANTIZE_OPTIONS, type QuantizeOptions } from './options/table.js';
export { forTask, type TaskOptions } from './options/task-defaults.js';
export { REQUEST_OPTIONS, type RequestOptions } from './options/request-table.js';
export {
  OrtRunner,
  defaultRunner,
  runnerFor,
  executionProviders,
  checkDevice,
  type Runner,
  type Session,
  type FloatTensor,
  type RuntimeOptions,
  type RuntimeReport,
} from './runtime/runner.js';
export { StderrProgress, silentProgress, type Progress } from './progress.js';
export { Rng } from './rng.js';
export * from './errors.js';
