// report.json of quantize: what ran, on which images, with what accuracy, size, time and memory.
import type { QuantPoint } from '../quant/points.js';
import { FLOAT_WIDTH, settingLabel, type QuantParams } from '../quant/scheme.js';
import type { CalibrationTable } from '../calibrate/table.js';
import type { SkippedImage } from '../data/imagefolder.js';
import type { Accuracy } from '../evaluate/metrics.js';
import type { QuantizeOptions } from '../options/table.js';
import type { RuntimeReport } from '../runtime/runner.js';
import { verdictOf } from '../evaluate/verdict.js';
import { KNN_NEIGHBOURS, KNN_TEMPERATURE } from '../evaluate/embeddings.js';
import type { QuantizeReport } from '../report/types.js';
import { floatLayerNodes, layerClass } from '../quant/float-layers.js';
import type { FloatFallback } from './float-fallback.js';
import type { Graph } from '../onnx/graph.js';
import type { Prepared } from './prepare.js';
import type { SearchedScales } from './search-scales.js';
import type { ExportedModels } from './export-models.js';
import type { QuantizedAccuracy } from './evaluate-quantized.js';
import type { SpeedReport } from '../evaluate/speed.js';
import type { WidthsReport } from '../widths/report.js';
import { REPORT_FILES, type WrittenModelFiles } from './write-output.js';

/** Everything a quantize run measured and wrote, as its stages returned it. */
export interface QuantizeRun {
  request: { calib: string; eval?: string };
  options: QuantizeOptions;
  prepared: Prepared;
  /** The --float-fallback profile, when it was measured, and the layers it (or the resumed run's) kept float. */
  floatFallback?: FloatFallback;
  fallbackLayers?: string[];
  table: CalibrationTable;
  /** --size-budget's widths, when one was given. */
  widths?: WidthsReport;
  searched?: SearchedScales;
  exported: ExportedModels;
  accuracy: QuantizedAccuracy;
  /** model.onnx timed against the float model; absent with --no-speed. */
  speed?: SpeedReport;
  warnings: string[];
  written: WrittenModelFiles;
  /** The decoded calibration and holdout images' bytes. */
  imageBytes: { calibration: number; holdout: number };
  timing: Record<string, number>;
  runtime: RuntimeReport | undefined;
  skippedImages: SkippedImage[];
}

const topk = (a: Accuracy) => ({ top1: a.top1, top5: a.top5, ...(a.toReference ? { toFloat: a.toReference } : {}) });

export function quantizeReport(run: QuantizeRun): QuantizeReport {
  const { request, options, table, searched, exported, accuracy, written } = run;
  const { model, points, units, evalFolder } = run.prepared;
  const counts: Record<string, number> = {};
  for (const p of points) counts[p.kind] = (counts[p.kind] ?? 0) + 1;
  const verdict = verdictOf({
    name: `${settingLabel(options)} ${accuracy.evolq ? 'Evol-Q' : 'baseline'} model.onnx`,
    task: model.task.task,
    fp: accuracy.fp,
    baseline: accuracy.baseline,
    exported: accuracy.exported,
    searched: accuracy.evolq !== undefined,
    sizeRatio: exported.bytes.length / exported.floatBytes,
    speedup: run.speed?.speedup.batch1,
    seed: options.seed,
  });
  return {
    verdict,
    settings: { ...options, model: model.file, calib: request.calib, eval: request.eval ?? null },
    task: model.task,
    evaluatedOn: {
      images: request.eval ?? `${request.calib} (holdout split)`,
      n: accuracy.fp.n,
      split: evalFolder ? 'eval' : 'holdout',
      labeled: (evalFolder ?? run.prepared.calibFolder).labeled,
      measure:
        model.task.task === 'image-classification'
          ? 'the class logits'
          : `a ${KNN_NEIGHBOURS}-NN classifier (cosine, votes weighted exp(cosine / ${KNN_TEMPERATURE}), leave-one-out) over each model's embeddings of these images`,
    },
    points: counts,
    units: units.map((u) => ({ name: u.name, kind: u.kind, points: u.points })),
    fp: topk(accuracy.fp),
    baseline: topk(accuracy.baseline),
    ...(accuracy.evolq ? { evolq: topk(accuracy.evolq) } : {}),
    exported: {
      ...topk(accuracy.exported),
      bytes: exported.bytes.length,
      floatBytes: exported.floatBytes,
      sizeRatio: exported.bytes.length / exported.floatBytes,
      opset: exported.deployable.graph.opset,
      weights: exported.deployable.weights,
      floatSubgraphs: exported.deployable.floatSubgraphs,
      kernels: exported.kernels,
      saturable: exported.saturable,
      floatLayers: [
        ...floatLayerReasons(model.graph, options.floatLayers, run.fallbackLayers ?? [], run.floatFallback),
        ...widthFloatLayers(model.graph, run.widths),
      ],
      ...(run.speed ? { speed: run.speed } : {}),
      transformersJs: {
        ...written.transformersJs,
        ...(written.imageProcessorAdded ? { imageProcessorAdded: written.imageProcessorAdded } : {}),
      },
    },
    timing: run.timing,
    runtime: run.runtime ?? null,
    widths: run.widths ?? null,
    search: searched?.report ?? null,
    scaleMovement: searched ? scaleMovement(points, table.params, searched.params) : [],
    batchNorm: { folded: model.batchNormFolding.folded.length, kept: model.batchNormFolding.kept },
    floatFallback: run.floatFallback ?? null,
    memory: {
      budget: options.memoryBudget,
      images: run.imageBytes,
      calibration: table.chunks ?? null,
      searchForwardImages: searched?.forwardImages ?? null,
      unitInputs: searched?.report.unitInputs ?? null,
    },
    skippedImages: run.skippedImages,
    warnings: run.warnings,
    files: [...written.files, ...REPORT_FILES],
  };
}

/** Per searched point, how far Evol-Q moved its scales from the baseline's. */
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

/** The layers a width budget kept float, with the fitness they save over the widest integer width. */
function widthFloatLayers(graph: Graph, widths: WidthsReport | undefined) {
  const budget = { size: '--size-budget', accuracy: '--accuracy-budget', latency: '--latency-budget' };
  return (widths?.layers ?? [])
    .filter((l) => l.bits === FLOAT_WIDTH)
    .map((l) => ({
      node: l.node,
      opType: graph.nodes.find((n) => n.name === l.node)?.opType ?? '',
      reason: `${budget[widths!.budget.kind]}: a float width (${widths!.sensitivity?.measure ?? 'the measure'} ${l.rise[FLOAT_WIDTH].toExponential(2)} from the widest integer width)`,
    }));
}

/** Each layer kept float, and why: named by --float-layers, or measured by --float-fallback (now or before a resume). */
function floatLayerReasons(
  graph: Graph,
  given: readonly string[],
  fallback: readonly string[],
  profile?: FloatFallback,
) {
  const reasons = [...floatLayerNodes(graph, given)].map((n) => ({
    node: n.name,
    opType: n.opType,
    reason: `--float-layers ${given.find((name) => name === n.name) ?? given.find((name) => name === n.opType) ?? layerClass(graph, n)}`,
  }));
  const named = new Set(reasons.map((r) => r.node));
  for (const n of graph.nodes.filter((node) => fallback.includes(node.name) && !named.has(node.name))) {
    const measured = profile?.classes.find((c) => c.layerClass === layerClass(graph, n));
    reasons.push({
      node: n.name,
      opType: n.opType,
      reason: measured
        ? `--float-fallback: model.onnx ran ${measured.speedup.toFixed(2)}× as fast with every ${measured.layerClass} float`
        : '--float-fallback, measured by the run this one resumed',
    });
  }
  return reasons;
}
