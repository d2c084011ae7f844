// The public API; the CLI only wraps these. Data flows model → graph → quant points → calibration → search
// → evaluation → files.
export { loadModel, type LoadedModel, type PreprocessingOverrides } from './model.js';
export { Graph, type Node } from './onnx/graph.js';
export { readModel, encodeModel } from './onnx/proto.js';
export { extractSubgraph } from './onnx/extract.js';
export { findQuantPoints, type QuantPoint, type PointKind } from './quant/points.js';
export { findUnits, type SearchUnit, type SearchSpace } from './quant/units.js';
export { materialize, simulationFeeds, type Simulation, type MaterializeOptions } from './quant/materialize.js';
export { fakeQuantUniform, fakeQuantLog2, type QuantParams, type UniformParams, type Log2Params } from './quant/scheme.js';
export { calibrate, type CalibrationTable, type CalibrationOptions } from './calibrate/calibrate.js';
export { listImageFolder, limitPerClass, drawSplits, decodeImages, type ImageFolder, type ImageBatch } from './data/imagefolder.js';
export { evaluateAccuracy } from './evaluate/evaluate.js';
export { evolqSearch, type SearchReport, type SearchSettings } from './search/search.js';
export { inspectModel, type InspectReport } from './pipeline/inspect.js';
export { evaluateModel, type EvalOptions } from './pipeline/evaluate-model.js';
export { quantize, type QuantizeRequest, type QuantizeReport } from './pipeline/quantize.js';
export { resolveOptions, DEFAULTS, type QuantizeOptions } from './config.js';
export { OrtRunner, defaultRunner, type Runner, type Session, type FloatTensor } from './runtime/runner.js';
export { StderrProgress, silentProgress, type Progress } from './progress.js';
export { Rng } from './rng.js';
export * from './errors.js';
