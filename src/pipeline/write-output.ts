// The files of OUT: model.onnx under its two names, config.json and preprocessor_config.json (what a user ships),
// simulation.onnx and quant.json with --keep-simulation, then report.json and report.html; OutputDir stages them and
// moves them into place on commit.
import type { QuantParams } from '../quant/scheme.js';
import type { QuantPoint } from '../quant/points.js';
import type { CalibrationTable } from '../calibrate/table.js';
import type { QuantizeOptions } from '../options/table.js';
import { hasWidthBudget, optionsRecord } from '../options/resolve.js';
import type { OutputDir } from '../export/outdir.js';
import { quantJson } from '../export/quantjson.js';
import { formatWeightBlock } from '../export/formats.js';
import {
  renameGraphValues,
  transformersJsFile,
  transformersJsFolder,
  type QuantizationConfig,
} from '../export/model-folder.js';
import { reportHtml } from '../report/html.js';
import type { OutputFile, QuantizeReport } from '../report/types.js';
import type { Prepared } from './prepare.js';
import type { ExportedModels } from './export-models.js';

export interface WrittenModelFiles {
  /** model.onnx's second name, the one transformers.js loads for its dtype, and what was written for it. */
  transformersJs: { dtype: 'q8' | 'q4'; file: string; added?: string[] };
  /** The image processor added to preprocessor_config.json, if the input named none. */
  imageProcessorAdded?: string;
  /** Each file written, its size and what it is for. */
  files: OutputFile[];
}

/** The report's own files, listed in it. */
export const REPORT_FILES: readonly OutputFile[] = [
  { name: 'report.json', bytes: null, purpose: 'this report: settings, accuracies, the verdict, timings' },
  { name: 'report.html', bytes: null, purpose: 'this report as a page, with plots' },
];

/**
 * Writes model.onnx, its transformers.js name (the same file, or a copy with the input and output names
 * transformers.js feeds and reads), the two configs (written for transformers.js where the input had none) and,
 * with --keep-simulation, simulation.onnx and quant.json. `classes`: the model's output classes.
 */
export function writeModelFiles(
  out: OutputDir,
  prepared: Prepared,
  table: CalibrationTable,
  exported: ExportedModels,
  options: QuantizeOptions,
  classes: number,
): WrittenModelFiles {
  const { model, points, units } = prepared;
  const files: OutputFile[] = [];
  const put = (name: string, data: Uint8Array | string, purpose: string) => {
    out.write(name, data);
    files.push({ name, bytes: typeof data === 'string' ? Buffer.byteLength(data) : data.length, purpose });
  };
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  put('model.onnx', exported.bytes, 'the quantized model, for onnxruntime (Node, web) and Optimum');
  const quantization = quantizationConfig(options, points, exported.finalParams);
  const transformersJs = transformersJsFile(quantization.w_bits);
  const folder = transformersJsFolder(model, quantization, classes);
  if (folder.renames.length) {
    const renamed = folder.renames.map(([from, to]) => `${from} → ${to}`).join(', ');
    put(
      transformersJs.file,
      renameGraphValues(exported.bytes, folder.renames),
      `model.onnx with the names transformers.js uses (${renamed}), for dtype '${transformersJs.dtype}'`,
    );
  } else {
    out.link(transformersJs.file, 'model.onnx');
    files.push({
      name: transformersJs.file,
      bytes: exported.bytes.length,
      purpose: `model.onnx (a hard link where the file system has them) under the name transformers.js loads for dtype '${transformersJs.dtype}'`,
    });
  }
  put(
    'config.json',
    json(folder.config),
    "the model's config with quantization_config: what transformers.js and Optimum read",
  );
  put(
    'preprocessor_config.json',
    json(folder.preprocessorConfig),
    'image size, mean and std, as the input expects them',
  );
  if (options.keepSimulation) {
    const simulation = exported.simulations[exported.simulations.length - 1];
    put(
      'simulation.onnx',
      simulation,
      'the quantized model as evolq simulates it (--keep-simulation): float operators, scales baked in',
    );
    put(
      'quant.json',
      json(quantJson(points, units, table, exported.finalParams)),
      "every quant point's scales, zero points and corrections (--keep-simulation)",
    );
  }
  return {
    transformersJs: { ...transformersJs, ...(folder.added.length ? { added: folder.added } : {}) },
    imageProcessorAdded: folder.imageProcessorAdded,
    files,
  };
}

/** config.json's `quantization_config`: the options, and how the written model stores and corrects its weights. */
function quantizationConfig(
  options: QuantizeOptions,
  points: readonly QuantPoint[],
  finalParams: Record<string, QuantParams>,
): QuantizationConfig {
  // Each weight's width as written (8-bit weights on 7-bit levels are 8-bit weights).
  const widths = new Map<string, number>();
  for (const p of points) {
    const q = finalParams[p.id];
    if (p.kind === 'weight' && q?.kind === 'uniform') widths.set(p.node, q.bits === 7 ? 8 : q.bits);
  }
  const narrowest = Math.min(options.wBits, ...widths.values());
  return {
    quant_method: 'evolq',
    ...optionsRecord(options),
    w_bits: narrowest,
    weight_storage: hasWidthBudget(options) ? 'mixed' : narrowest === 8 ? 'int8' : 'uint4',
    ...(hasWidthBudget(options) ? { w_bits_per_layer: Object.fromEntries(widths) } : {}),
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
