// Scales → model bytes: the simulation models with their scales baked in, and the deployable model.onnx.
import { materialize } from '../quant/materialize.js';
import type { QuantParams } from '../quant/scheme.js';
import type { CalibrationTable } from '../calibrate/table.js';
import type { QuantizeOptions } from '../options/table.js';
import type { Runner } from '../runtime/runner.js';
import type { Deployable } from '../export/deployable.js';
import { EXPORT_FORMATS } from '../export/formats.js';
import { kernelCounts, optimizedModel } from '../export/kernels.js';
import { saturableKernels } from '../export/saturation.js';
import type { Prepared } from './prepare.js';

export interface ExportedModels {
  /** Baseline, then Evol-Q when searched, with their scales baked in; the last is what OUT holds. */
  simulations: Uint8Array[];
  /** The scales of the last: what model.onnx, simulation.onnx and quant.json hold. */
  finalParams: Record<string, QuantParams>;
  deployable: Deployable;
  /** model.onnx's bytes. */
  bytes: Uint8Array;
  /** The float model's size in bytes. */
  floatBytes: number;
  /** The operators onnxruntime-node (CPU) runs model.onnx with. */
  kernels: Record<string, number>;
  /** The kernels of model.onnx whose uint8 × int8 products can saturate on x86 CPUs without VNNI (saturation.ts). */
  saturable: string[];
}

/** Bakes the baseline's (and the searched) scales into the graph and builds model.onnx in `--export-format`. */
export async function exportModels(
  runner: Runner,
  prepared: Prepared,
  table: CalibrationTable,
  searchedParams: Record<string, QuantParams> | undefined,
  options: QuantizeOptions,
): Promise<ExportedModels> {
  const { model, points } = prepared;
  const bakedModel = (params: Record<string, QuantParams>) =>
    materialize(model.graph, points, params, { bake: true, inputMeans: table.inputMeans }).graph.toBytes();
  const finalParamSets = searchedParams ? [table.params, searchedParams] : [table.params];
  const simulations = finalParamSets.map(bakedModel);
  const finalParams = finalParamSets[finalParamSets.length - 1];
  const deployable = EXPORT_FORMATS[options.exportFormat].build(model.graph, points, finalParams, table.inputMeans);
  const bytes = deployable.graph.toBytes();
  const floatBytes = model.graph.toBytes().length;
  const optimized = await optimizedModel(runner, bytes);
  const kernels = kernelCounts(optimized);
  const saturable = saturableKernels(optimized);
  return { simulations, finalParams, deployable, bytes, floatBytes, kernels, saturable };
}
