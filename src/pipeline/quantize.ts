// `evolq quantize`: model → graph → quant points → calibration → (search) → evaluation → files.
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../model.js';
import { findQuantPoints } from '../quant/points.js';
import { findUnits } from '../quant/units.js';
import { materialize, simulationFeeds } from '../quant/materialize.js';
import { calibrate, type CalibrationTable } from '../calibrate/calibrate.js';
import { listImageFolder, limitPerClass, drawSplits, decodeImages } from '../data/imagefolder.js';
import { decodedSource, fileSource, type ImageSource } from '../data/source.js';
import { evaluateAccuracy, type EvaluationTarget } from '../evaluate/evaluate.js';
import { encodeModel } from '../onnx/proto.js';
import { resolveOptions, type QuantizeOptions } from '../config.js';
import { defaultRunner, type Runner, type Session } from '../runtime/runner.js';
import { OutputDir } from '../export/outdir.js';
import { quantJson } from '../export/quantjson.js';
import { Rng } from '../rng.js';
import { silentProgress, type Progress } from '../progress.js';
import type { Accuracy } from '../evaluate/metrics.js';

export interface QuantizeRequest {
  model: string;
  calib: string;
  out: string;
  eval?: string;
  options?: Partial<QuantizeOptions>;
  runner?: Runner;
  progress?: Progress;
}

export interface QuantizeReport {
  settings: QuantizeOptions & { model: string; calib: string; eval: string | null };
  evaluatedOn: { images: string; n: number; split: 'eval' | 'holdout' };
  points: Record<string, number>;
  units: { name: string; kind: string; points: string[] }[];
  fp: { top1: number; top5: number };
  baseline: { top1: number; top5: number };
  timing: Record<string, number>;
  search: null;
  files: string[];
}

const topk = (a: Accuracy) => ({ top1: a.top1, top5: a.top5 });

/** Calibrates and evaluates the FQ-ViT baseline and writes OUT (quant.json, report.json, simulation.onnx). */
export async function quantize(request: QuantizeRequest): Promise<QuantizeReport> {
  const options = resolveOptions(request.options ?? {});
  const runner = request.runner ?? defaultRunner;
  const progress = request.progress ?? silentProgress;
  const timing: Record<string, number> = {};
  let clock = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    timing[name] = (now - clock) / 1000;
    clock = now;
  };
  const started = clock;

  const model = loadModel(request.model);
  const points = findQuantPoints(model.graph);
  const units = findUnits(model.graph, points, options.searchSpace);
  const calibFolder = listImageFolder(request.calib, model.labels);
  const evalFolder = request.eval ? listImageFolder(request.eval, model.labels) : undefined;
  const splits = drawSplits(calibFolder, options.calibSize, options.holdout, new Rng(options.seed));
  const out = OutputDir.open(request.out);
  try {
    lap('load');
    progress.start('decoding', splits.calibration.length);
    const calibImages = await decodeImages(splits.calibration, model.preprocessing, (n) => progress.update(n));
    progress.end();
    lap('decode');

    const table = await calibrate(runner, model.graph, model.inputName, points, calibImages, {
      wBits: options.wBits, aBits: options.aBits, observer: options.observer, ptf: options.ptf, lis: options.lis,
      biasCorrection: options.biasCorrection, batchSize: options.batchSize,
    }, progress);
    lap('calibration');

    const evalItems = evalFolder ? (options.evalLimit ? limitPerClass(evalFolder, options.evalLimit) : evalFolder.items) : splits.holdout;
    const evalSource: ImageSource = evalFolder ? fileSource(evalItems, model.preprocessing) : decodedSource(await decodeImages(evalItems, model.preprocessing));
    const [fp, baseline] = await evaluateFloatAndSimulation(runner, model, points, table, evalSource, options, progress);
    lap('evaluation');

    const simulation = materialize(model.graph, points, table.params, { bake: true, inputMeans: table.inputMeans });
    out.write('simulation.onnx', encodeModel(simulation.graph.toModel()).model);
    out.writeJson('quant.json', quantJson(points, units, table, table.params));
    if (model.dir) {
      out.copy(join(model.dir, 'preprocessor_config.json'));
      out.copy(join(model.dir, 'config.json'));
    }
    lap('write');
    timing.total = (performance.now() - started) / 1000;

    const counts: Record<string, number> = {};
    for (const p of points) counts[p.kind] = (counts[p.kind] ?? 0) + 1;
    const report: QuantizeReport = {
      settings: { ...options, model: model.file, calib: request.calib, eval: request.eval ?? null },
      evaluatedOn: { images: request.eval ?? `${request.calib} (holdout split)`, n: fp.n, split: evalFolder ? 'eval' : 'holdout' },
      points: counts,
      units: units.map((u) => ({ name: u.name, kind: u.kind, points: u.points })),
      fp: topk(fp),
      baseline: topk(baseline),
      timing,
      search: null,
      files: ['simulation.onnx', 'quant.json', 'report.json'],
    };
    out.writeJson('report.json', report);
    out.commit();
    return report;
  } catch (err) {
    out.abort();
    throw err;
  }
}

async function evaluateFloatAndSimulation(
  runner: Runner, model: LoadedModel, points: ReturnType<typeof findQuantPoints>, table: CalibrationTable,
  source: ImageSource, options: QuantizeOptions, progress: Progress,
): Promise<[Accuracy, Accuracy]> {
  const simulation = materialize(model.graph, points, table.params, { inputMeans: table.inputMeans });
  const sessions: Session[] = [];
  try {
    sessions.push(await runner.createSession(model.file));
    sessions.push(await runner.createSession(encodeModel(simulation.graph.toModel()).model));
    const io = { inputName: model.inputName, outputName: model.outputName };
    const targets: EvaluationTarget[] = [
      { session: sessions[0], ...io },
      { session: sessions[1], ...io, feeds: simulationFeeds(simulation, points, table.params) },
    ];
    const [fp, baseline] = await evaluateAccuracy(targets, source, options.batchSize, progress);
    return [fp, baseline];
  } finally {
    for (const s of sessions) await s.release();
  }
}
