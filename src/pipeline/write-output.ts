// The files of OUT: the models, quant.json, config.json and preprocessor_config.json, then report.json and
// report.html; OutputDir stages them and moves them into place on commit.
import type { QuantParams } from '../quant/scheme.js';
import type { CalibrationTable } from '../calibrate/table.js';
import type { QuantizeOptions } from '../options/table.js';
import { optionsRecord } from '../options/resolve.js';
import type { OutputDir } from '../export/outdir.js';
import { quantJson } from '../export/quantjson.js';
import { formatWeightBlock } from '../export/formats.js';
import {
  outputConfig,
  outputPreprocessorConfig,
  transformersJsFile,
  type QuantizationConfig,
} from '../export/model-folder.js';
import { reportHtml } from '../report/html.js';
import type { QuantizeReport } from '../report/types.js';
import type { Prepared } from './prepare.js';
import type { ExportedModels } from './export-models.js';

export interface WrittenModelFiles {
  /** model.onnx's second name, the one transformers.js loads for its dtype. */
  transformersJs: { dtype: 'q8' | 'q4'; file: string };
  /** The image processor added to preprocessor_config.json, if the input named none. */
  imageProcessorAdded?: string;
}

/** Writes model.onnx (and its transformers.js name), simulation.onnx, quant.json and the two configs. */
export function writeModelFiles(
  out: OutputDir,
  prepared: Prepared,
  table: CalibrationTable,
  exported: ExportedModels,
  options: QuantizeOptions,
): WrittenModelFiles {
  const { model, points, units } = prepared;
  out.write('model.onnx', exported.bytes);
  const transformersJs = transformersJsFile(options.wBits);
  out.link(transformersJs.file, 'model.onnx');
  out.write('simulation.onnx', exported.simulations[exported.simulations.length - 1]);
  out.writeJson('quant.json', quantJson(points, units, table, exported.finalParams));
  out.writeJson('config.json', outputConfig(model.config, quantizationConfig(options, exported.finalParams)));
  const preprocessor = outputPreprocessorConfig(model.preprocessorConfig, model.config.model_type);
  out.writeJson('preprocessor_config.json', preprocessor.config);
  return { transformersJs, imageProcessorAdded: preprocessor.added };
}

/** config.json's `quantization_config`: the options, and how the written model stores and corrects its weights. */
function quantizationConfig(options: QuantizeOptions, finalParams: Record<string, QuantParams>): QuantizationConfig {
  return {
    quant_method: 'evolq',
    ...optionsRecord(options),
    w_bits: options.wBits,
    weight_storage: options.wBits === 8 ? 'int8' : 'uint4',
    weight_granularity: formatWeightBlock(options.exportFormat)
      ? `block-${formatWeightBlock(options.exportFormat)}`
      : 'per-channel',
    // What the written model carries, which can differ from the options: the kept search result may have run from
    // the corrected start (--start corrected or auto), and the start's output correction is kept only where it helped.
    weight_correction: Object.values(finalParams).some((p) => p.kind === 'uniform' && p.correction !== undefined),
    output_correction: Object.values(finalParams).some((p) => p.kind === 'uniform' && p.outputCorrection !== undefined),
  };
}

/** Writes report.json and the page rendered from it, report.html. */
export async function writeReport(out: OutputDir, report: QuantizeReport): Promise<void> {
  out.writeJson('report.json', report);
  out.write('report.html', await reportHtml({ report }));
}
