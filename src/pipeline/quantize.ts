// `evolq quantize`: model → graph → quant points → calibration → (search) → export → evaluation → files.
// Each stage is a function of its own module here; this one shows how their outputs feed each other.
import type { ModelOptions } from '../model.js';
import { prepare, calibrateBaseline, type Prepared } from './prepare.js';
import { decodeImagesWithProgress, type ImageBatch, type SkippedImage } from '../data/imagefolder.js';
import { CHECKPOINT_FILE } from '../search/checkpoint.js';
import { settleFloatLayers } from './float-fallback.js';
import { hasWidthBudget, resolveOptions } from '../options/resolve.js';
import { forTask, type TaskOptions } from '../options/task-defaults.js';
import type { CalibrationTable } from '../calibrate/table.js';
import { checkRequest, RUN_FIELDS } from '../options/request.js';
import type { GivenOptions } from '../options/table.js';
import { runnerFor, type Runner, type RuntimeOptions } from '../runtime/runner.js';
import { OutputDir } from '../export/outdir.js';
import type { QuantizeReport } from '../report/types.js';
import { DataError } from '../errors.js';
import { silentProgress, type Progress } from '../progress.js';
import { StageClock } from './stage-clock.js';
import { checkPrepared, guessedClassFolders, refuseNoEvaluationImages } from './quantize-checks.js';
import { openResume } from './resume.js';
import { searchScales } from './search-scales.js';
import { exportModels } from './export-models.js';
import { evaluateQuantized, evaluationImages } from './evaluate-quantized.js';
import { writeModelFiles, writeReport } from './write-output.js';
import { quantizeReport } from './quantize-report.js';
import { timeExported } from './time-exported.js';
import { quantizeWarnings } from './quantize-warnings.js';
import { settleWidths } from './settle-widths.js';
import type { WidthsReport } from '../widths/report.js';

export type { QuantizeReport };

export interface QuantizeRequest {
  model: string;
  calib: string;
  out: string;
  eval?: string;
  options?: GivenOptions;
  /** The model file in a folder, and input size, mean and std for a bare .onnx without preprocessor_config.json. */
  modelOptions?: ModelOptions;
  runner?: Runner;
  /** The execution provider and threads of onnxruntime-node, when no runner is given. */
  runtime?: RuntimeOptions;
  progress?: Progress;
}

/**
 * Calibrates the FQ-ViT baseline, runs the Evol-Q search with `--method evolq`, evaluates float, baseline
 * (and Evol-Q) and the exported model, and writes OUT (model.onnx, simulation.onnx, quant.json, report.json).
 */
export async function quantize(request: QuantizeRequest): Promise<QuantizeReport> {
  checkRequest('quantize', request, RUN_FIELDS, ['model', 'calib', 'out']);
  const given = resolveOptions(request.options ?? {});
  const runner = runnerFor(request.runner, request.runtime);
  const [progress, clock] = [request.progress ?? silentProgress, new StageClock()];
  refuseNoEvaluationImages(request.eval, given);
  let prepared = prepare({ ...request, options: given, holdout: { count: given.holdout, option: 'holdout' } });
  const { model, splits } = prepared;
  const options = forTask(given, model.task.task);
  await checkPrepared(runner, prepared, request, options, progress);
  const out = OutputDir.open(request.out, { keep: options.resume, command: 'quantize', checkpoint: CHECKPOINT_FILE });
  const skippedImages: SkippedImage[] = [];
  const skipped = options.skipBadImages ? skippedImages : undefined;
  try {
    // A checkpoint that cannot be resumed is refused now, not after decoding and calibration.
    const resume = openResume(out, model.file, splits, options, progress);
    clock.lap('load');
    // Dropped once the search is done: evaluation needs their memory (docs/notes/pipeline.md).
    let calibration: ImageBatch | undefined = await decodeCalibration(request.calib, prepared, progress, skipped);
    const calibrationBytes = calibration.data.byteLength;
    clock.lap('decode');
    const run = { options, resume, progress };
    const { floatFallback, floatLayers, ...settled } = await settleFloatLayers(runner, prepared, calibration, run);
    if (floatFallback) clock.lap('float fallback');
    prepared = settled.prepared;
    const stage = { runner, prepared, options, out, progress, clock, skipped };
    const { table, holdout, widths, ...atWidths } = await calibrateAndSettle(stage, calibration);
    prepared = atWidths.prepared;
    const checkpoint = { fingerprint: resume.fingerprint(floatLayers ?? []), resumeFrom: resume.from, floatLayers };
    const searched =
      options.method === 'evolq'
        ? await searchScales({ runner, prepared, table, calibration, holdout, options, progress, out, checkpoint })
        : undefined;
    if (searched) clock.lap('search');
    calibration = undefined;
    const exported = await exportModels(runner, prepared, table, searched?.params, options);
    clock.lap('export');
    const source = evaluationImages(prepared, options, holdout, skipped);
    const accuracy = await evaluateQuantized(runner, model, exported, source, options, progress);
    clock.lap('evaluation');
    const speed = options.speed
      ? await timeExported(runner, model, exported, { holdout, source }, options.batchSize)
      : undefined;
    if (speed) clock.lap('speed');
    const [saturable, classFolders] = [exported.saturable, guessedClassFolders(prepared)];
    const warnings = quantizeWarnings({ accuracy, speed, options, saturable, prepared, classFolders });
    for (const warning of warnings) progress.log(`warning: ${warning}`);
    const written = writeModelFiles(out, prepared, table, exported, options, accuracy.fp.classes ?? 0);
    clock.lap('write');
    const report = quantizeReport({
      request,
      options,
      prepared,
      floatFallback,
      fallbackLayers: floatLayers,
      table,
      widths,
      searched,
      exported,
      accuracy,
      speed,
      warnings,
      written,
      imageBytes: { calibration: calibrationBytes, holdout: holdout.data.byteLength },
      timing: clock.finish(),
      runtime: runner.report,
      skippedImages,
    });
    await writeReport(out, report);
    out.remove(CHECKPOINT_FILE);
    out.commit();
    return report;
  } catch (err) {
    out.abort(CHECKPOINT_FILE);
    throw err;
  }
}

/**
 * The FQ-ViT baseline's calibration table and the decoded holdout images; with a width budget, the table at each
 * weight's width and the prepared model with its float-width layers float (settle-widths.ts).
 */
async function calibrateAndSettle(
  stage: {
    runner: Runner;
    prepared: Prepared;
    options: TaskOptions;
    out: OutputDir;
    progress: Progress;
    clock: StageClock;
    skipped: SkippedImage[] | undefined;
  },
  calibration: ImageBatch,
): Promise<{ table: CalibrationTable; holdout: ImageBatch; widths?: WidthsReport; prepared: Prepared }> {
  const { runner, prepared, options, progress, clock } = stage;
  const table = await calibrateBaseline(runner, prepared, calibration, options, progress);
  clock.lap('calibration');
  const { splits, model } = prepared;
  const holdout = await decodeImagesWithProgress(
    splits.holdout,
    model.preprocessing,
    progress,
    'decoding holdout',
    stage.skipped,
  );
  if (!hasWidthBudget(options)) return { table, holdout, prepared };
  const settled = await settleWidths({
    runner,
    prepared,
    table,
    calibration,
    holdout,
    options,
    out: stage.out,
    progress,
  });
  clock.lap('widths');
  return { table: settled.table, holdout, widths: settled.report, prepared: settled.prepared };
}

/** The decoded calibration images; none decoding is an error that names the folder. */
async function decodeCalibration(
  folder: string,
  { splits, model }: Prepared,
  progress: Progress,
  skipped: SkippedImage[] | undefined,
): Promise<ImageBatch> {
  const items = splits.calibration;
  const images = await decodeImagesWithProgress(items, model.preprocessing, progress, 'decoding', skipped);
  if (!images.dims[0]) throw new DataError(`${folder}: none of the ${items.length} calibration images decoded`, folder);
  return images;
}
