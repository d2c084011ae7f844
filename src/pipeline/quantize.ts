// `evolq quantize`: model → graph → quant points → calibration → (search) → evaluation → files.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { LoadedModel, ModelOptions } from '../model.js';
import { prepare, calibrateBaseline } from './prepare.js';
import { materialize } from '../quant/materialize.js';
import {
  limitPerClass,
  decodeImagesWithProgress,
  type ImageBatch,
  type ImageItem,
  type SkippedImage,
} from '../data/imagefolder.js';
import { evolqSearch, searchSettings, type SearchReport } from '../search/search.js';
import { CHECKPOINT_FILE, readCheckpoint } from '../search/checkpoint.js';
import type { QuantParams } from '../quant/scheme.js';
import { decodedSource, fileSource, type ImageSource } from '../data/source.js';
import { evaluateAccuracy, type EvaluationTarget } from '../evaluate/evaluate.js';
import { resolveOptions, optionsRecord } from '../options/resolve.js';
import type { GivenOptions, QuantizeOptions } from '../options/table.js';
import { runnerFor, type Runner, type RuntimeOptions, type Session } from '../runtime/runner.js';
import { OutputDir } from '../export/outdir.js';
import { quantJson } from '../export/quantjson.js';
import { EXPORT_FORMATS, formatWeightBlock } from '../export/formats.js';
import { chosenKernels } from '../export/kernels.js';
import { outputConfig, outputPreprocessorConfig, transformersJsFile } from '../export/model-folder.js';
import { reportHtml } from '../report/html.js';
import type { QuantizeReport } from '../report/types.js';

export type { QuantizeReport };
import { missingRoles, type QuantPoint } from '../quant/points.js';
import { ConfigError, DataError } from '../errors.js';
import { silentProgress, type Progress } from '../progress.js';
import type { Accuracy } from '../evaluate/metrics.js';
import { budgetBeside, formatBytes, imagesWithin } from '../memory.js';

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

const topk = (a: Accuracy) => ({ top1: a.top1, top5: a.top5, ...(a.toReference ? { toFloat: a.toReference } : {}) });

/** What a checkpoint must agree on to be resumed: the model, the drawn images and every setting that shapes the search. */
function fingerprint(
  modelFile: string,
  calibration: readonly ImageItem[],
  holdout: readonly ImageItem[],
  options: QuantizeOptions,
): string {
  const {
    evalLimit: _evalLimit,
    resume: _resume,
    exportFormat: _exportFormat,
    memoryBudget: _memoryBudget,
    ...settings
  } = options;
  return createHash('sha256')
    .update(readFileSync(modelFile))
    .update(
      JSON.stringify({
        settings,
        weightBlock: formatWeightBlock(options.exportFormat),
        calibration: calibration.map((i) => i.file),
        holdout: holdout.map((i) => i.file),
      }),
    )
    .digest('hex');
}

/**
 * Calibrates the FQ-ViT baseline, runs the Evol-Q search with `--method evolq`, evaluates float, baseline
 * (and Evol-Q) and the exported model, and writes OUT (model.onnx, simulation.onnx, quant.json, report.json).
 */
export async function quantize(request: QuantizeRequest): Promise<QuantizeReport> {
  const options = resolveOptions(request.options ?? {});
  const runner = runnerFor(request.runner, request.runtime);
  const progress = request.progress ?? silentProgress;
  const timing: Record<string, number> = {};
  let clock = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    timing[name] = (now - clock) / 1000;
    clock = now;
  };
  const started = clock;

  if (!request.eval && options.holdout === 0) {
    throw new ConfigError(
      '--holdout 0 without --eval leaves no images to measure accuracy on; give --eval DIR or --holdout 1 or more',
      '--holdout',
    );
  }
  if (!request.eval && options.evalLimit !== undefined)
    throw new ConfigError('--eval-limit limits the --eval images; give --eval DIR too', '--eval-limit');
  const prepared = prepare({ ...request, options, holdout: { count: options.holdout, option: 'holdout' } });
  const { model, points, units, evalFolder, rng, splits } = prepared;
  const missing = options.extraPoints ? missingRoles(points) : [];
  if (missing.length) progress.log(`--extra-points: ${model.file} has no ${missing.join(', ')} to quantize`);
  if (options.method === 'evolq' && !units.length) {
    throw new ConfigError(
      `${model.file}: no ${options.searchSpace} search units (no residual block or attention was found), so there is nothing for --method evolq to search; use --method baseline`,
      '--method',
    );
  }
  if (options.method === 'evolq' && options.holdout === 0) {
    throw new ConfigError(
      '--holdout 0: --method evolq keeps the pass that is best on the holdout images; give --holdout 1 or more',
      '--holdout',
    );
  }
  const checkpointFingerprint =
    options.method === 'evolq' ? fingerprint(model.file, splits.calibration, splits.holdout, options) : '';
  const out = OutputDir.open(request.out, { keep: options.resume });
  const skippedImages: SkippedImage[] = [];
  const skipped = options.skipBadImages ? skippedImages : undefined;
  try {
    // A checkpoint that cannot be resumed is refused now, not after decoding and calibration.
    const resumeFrom =
      options.resume && options.method === 'evolq'
        ? readCheckpoint(out.path(CHECKPOINT_FILE), checkpointFingerprint)
        : undefined;
    if (options.resume && options.method === 'evolq' && !resumeFrom)
      progress.log(`no checkpoint at ${out.path(CHECKPOINT_FILE)}: starting the search from the beginning`);
    lap('load');
    // Dropped once the search is done: evaluation needs their memory (ViT-S at 224 px: 0.6 GB).
    let calibImages: ImageBatch | undefined = await decodeImagesWithProgress(
      splits.calibration,
      model.preprocessing,
      progress,
      'decoding',
      skipped,
    );
    if (!calibImages.dims[0])
      throw new DataError(
        `${request.calib}: none of the ${splits.calibration.length} calibration images decoded`,
        request.calib,
      );
    const calibrationBytes = calibImages.data.byteLength;
    lap('decode');

    const table = await calibrateBaseline(runner, prepared, calibImages, options, progress);
    lap('calibration');

    const holdoutImages = await decodeImagesWithProgress(
      splits.holdout,
      model.preprocessing,
      progress,
      'decoding holdout',
      skipped,
    );
    let searched: { params: Record<string, QuantParams>; report: SearchReport } | undefined;
    // What the budget leaves beside the decoded images: the unit inputs held in memory, and the search's forwards,
    // run in pieces sized as calibration sized its own from the bytes per image of every quantized tensor.
    const searchBudget = Math.max(
      0,
      options.memoryBudget - calibImages.data.byteLength - holdoutImages.data.byteLength,
    );
    const forwardImages =
      options.method === 'evolq'
        ? imagesWithin(
            budgetBeside(options.memoryBudget, calibImages.data.byteLength + holdoutImages.data.byteLength),
            table.chunks?.bytesPerImage.ranges ?? 0,
            options.batchSize,
          )
        : undefined;
    if (forwardImages !== undefined && forwardImages < options.batchSize) {
      progress.log(
        `search: ${forwardImages} images per onnxruntime run, joined into batches of ${options.batchSize} (--memory-budget ${formatBytes(options.memoryBudget)})`,
      );
    }
    if (options.method === 'evolq') {
      searched = await evolqSearch(
        {
          runner,
          graph: model.graph,
          simulate: (params, feed) =>
            materialize(model.graph, points, params, { bake: true, feed, inputMeans: table.inputMeans }),
          points,
          units,
          inputName: model.inputName,
          outputName: model.outputName,
          calibration: calibImages,
          holdout: holdoutImages,
          batchSize: options.batchSize,
          forwardImages,
          refittedPtf: table.refittedPtf,
          // Unit inputs beyond the budget go to OUT's staging folder until the search ends.
          unitInputBudget: searchBudget,
          spillFolder: out.path(UNIT_INPUTS_FOLDER),
        },
        table.params,
        searchSettings(options),
        {
          rng,
          progress,
          checkpoint: { file: out.path(CHECKPOINT_FILE), fingerprint: checkpointFingerprint, resumeFrom },
        },
      );
      lap('search');
    }
    calibImages = undefined;
    const bakedModel = (params: Record<string, QuantParams>) =>
      materialize(model.graph, points, params, { bake: true, inputMeans: table.inputMeans }).graph.toBytes();
    // Baseline, then Evol-Q when searched; the last is what OUT holds.
    const finalParamSets = searched ? [table.params, searched.params] : [table.params];
    const quantizedModels = finalParamSets.map(bakedModel);
    const finalParams = finalParamSets[finalParamSets.length - 1];
    const deployable = EXPORT_FORMATS[options.exportFormat].build(model.graph, points, finalParams, table.inputMeans);
    const exportedModel = deployable.graph.toBytes();
    const floatBytes = model.graph.toBytes().length;
    const kernels = await chosenKernels(runner, exportedModel);
    lap('export');

    const evalItems = evalFolder
      ? options.evalLimit
        ? limitPerClass(evalFolder, options.evalLimit)
        : evalFolder.items
      : splits.holdout;
    const evalSource: ImageSource = evalFolder
      ? fileSource(evalItems, model.preprocessing, skipped)
      : decodedSource(holdoutImages);
    const accuracies = await evaluateModels(
      runner,
      model,
      [...quantizedModels, exportedModel],
      evalSource,
      options,
      progress,
    );
    const [fp, baseline] = accuracies;
    const evolq = searched ? accuracies[2] : undefined;
    const exported = accuracies[accuracies.length - 1];
    lap('evaluation');

    out.write('model.onnx', exportedModel);
    const transformersJs = transformersJsFile(options.wBits);
    out.link(transformersJs.file, 'model.onnx');
    out.write('simulation.onnx', quantizedModels[quantizedModels.length - 1]);
    out.writeJson('quant.json', quantJson(points, units, table, finalParams));
    out.writeJson(
      'config.json',
      outputConfig(model.config, {
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
        output_correction: Object.values(finalParams).some(
          (p) => p.kind === 'uniform' && p.outputCorrection !== undefined,
        ),
      }),
    );
    const preprocessor = outputPreprocessorConfig(model.preprocessorConfig, model.config.model_type);
    out.writeJson('preprocessor_config.json', preprocessor.config);
    lap('write');
    timing.total = (performance.now() - started) / 1000;

    const counts: Record<string, number> = {};
    for (const p of points) counts[p.kind] = (counts[p.kind] ?? 0) + 1;
    const report: QuantizeReport = {
      settings: { ...options, model: model.file, calib: request.calib, eval: request.eval ?? null },
      evaluatedOn: {
        images: request.eval ?? `${request.calib} (holdout split)`,
        n: fp.n,
        split: evalFolder ? 'eval' : 'holdout',
      },
      points: counts,
      units: units.map((u) => ({ name: u.name, kind: u.kind, points: u.points })),
      fp: topk(fp),
      baseline: topk(baseline),
      ...(evolq ? { evolq: topk(evolq) } : {}),
      exported: {
        ...topk(exported),
        bytes: exportedModel.length,
        floatBytes,
        sizeRatio: exportedModel.length / floatBytes,
        opset: deployable.graph.opset,
        weights: deployable.weights,
        floatSubgraphs: deployable.floatSubgraphs,
        kernels,
        transformersJs: {
          ...transformersJs,
          ...(preprocessor.added ? { imageProcessorAdded: preprocessor.added } : {}),
        },
      },
      timing,
      runtime: runner.report ?? null,
      search: searched?.report ?? null,
      scaleMovement: searched ? scaleMovement(points, table.params, searched.params) : [],
      batchNorm: { folded: model.batchNormFolding.folded.length, kept: model.batchNormFolding.kept },
      memory: {
        budget: options.memoryBudget,
        images: { calibration: calibrationBytes, holdout: holdoutImages.data.byteLength },
        calibration: table.chunks ?? null,
        searchForwardImages: forwardImages ?? null,
        unitInputs: searched?.report.unitInputs ?? null,
      },
      skippedImages,
      files: [
        'model.onnx',
        transformersJs.file,
        'simulation.onnx',
        'quant.json',
        'config.json',
        'preprocessor_config.json',
        'report.json',
        'report.html',
      ],
    };
    out.writeJson('report.json', report);
    out.write('report.html', await reportHtml({ report }));
    out.remove(CHECKPOINT_FILE);
    out.commit();
    return report;
  } catch (err) {
    out.abort(CHECKPOINT_FILE);
    throw err;
  }
}

function scaleMovement(
  points: readonly QuantPoint[],
  before: Readonly<Record<string, QuantParams>>,
  after: Readonly<Record<string, QuantParams>>,
): QuantizeReport['scaleMovement'] {
  const moved: QuantizeReport['scaleMovement'] = [];
  for (const point of points) {
    const a = before[point.id];
    const b = after[point.id];
    if (a?.kind !== 'uniform' || b?.kind !== 'uniform' || a.scale === b.scale) continue;
    const changes = Array.from(a.scale, (s, i) => Math.abs(b.scale[i] - s) / s);
    moved.push({
      point: point.id,
      kind: point.kind,
      meanRelativeChange: changes.reduce((x, y) => x + y, 0) / changes.length,
      maxRelativeChange: Math.max(...changes),
    });
  }
  return moved;
}

/** Where the search's unit inputs beyond the memory budget go, inside OUT's staging folder. */
const UNIT_INPUTS_FOLDER = 'unit-inputs.spill';

/**
 * Float, baseline and (when searched) Evol-Q accuracy in one pass over the images, each quantized model also
 * measured against the float one (KL and top-1 agreement). The quantized models run
 * with their scales baked in, as simulation.onnx holds them.
 */
async function evaluateModels(
  runner: Runner,
  model: LoadedModel,
  quantizedModels: readonly Uint8Array[],
  source: ImageSource,
  options: QuantizeOptions,
  progress: Progress,
): Promise<Accuracy[]> {
  const sessions: Session[] = [];
  try {
    sessions.push(await runner.createSession(model.file));
    for (const bytes of quantizedModels) sessions.push(await runner.createSession(bytes));
    const targets: EvaluationTarget[] = sessions.map((session) => ({
      session,
      inputName: model.inputName,
      outputName: model.outputName,
    }));
    return await evaluateAccuracy(targets, source, options.batchSize, progress, 0);
  } finally {
    for (const s of sessions) await s.release();
  }
}
